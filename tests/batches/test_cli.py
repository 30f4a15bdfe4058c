"""`basalt batches ...` against a real `basalt serve` on the real bundled model: submit --wait writes the results
next to the input, list and show see the batch, cancel reports what the server says, a bad line is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from basalt.cli import main

from ..control.servers import Server
from .conftest import link_models

CONFIG = {
    "engine": {"context_window": 1024, "max_seqs": 8},
    "batches": {"concurrency": 4, "poll_seconds": 0.2, "sweep_seconds": 1},
}


@pytest.fixture(scope="module")
def server(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = link_models(basalt_home, tmp_path_factory.mktemp("batches-cli-home"))
    server = Server(home, CONFIG).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def env(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASALT_URL", server.url)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("BASALT_API_KEY", raising=False)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def message(prompt: str) -> dict[str, object]:
    return {"max_tokens": 4, "messages": [{"role": "user", "content": prompt}], "temperature": 0}


def test_submit_wait_writes_the_results_then_list_show_and_cancel_see_the_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write_lines(
        tmp_path / "jobs.jsonl",
        [
            json.dumps({"custom_id": "first", "params": {**message("Say hi."), "model": "smollm2"}}),
            json.dumps(message("Name a colour.")),  # bare params: --model fills the model, custom_id is line-2
            "",
            json.dumps(message("Count to two.")),
        ],
    )
    assert main(["batches", "submit", str(file), "--model", "smollm2", "--wait"]) == 0
    out, err = capsys.readouterr()
    batch_id = out.strip()
    assert batch_id.startswith("msgbatch_")
    assert "3/3 items" in err and "ETA" in err and "succeeded 3" in err

    lines = [json.loads(line) for line in (tmp_path / "jobs.results.jsonl").read_text().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["first", "line-2", "line-4"]
    assert all(line["result"]["type"] == "succeeded" for line in lines)
    assert all(line["result"]["message"]["usage"]["output_tokens"] >= 1 for line in lines)

    assert main(["batches", "list"]) == 0
    listed = capsys.readouterr().out
    assert batch_id in listed and "ended" in listed

    assert main(["batches", "show", batch_id]) == 0
    shown = capsys.readouterr().out
    assert "ended" in shown and "succeeded 3" in shown and "errored 0" in shown
    assert main(["batches", "show", batch_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["request_counts"]["succeeded"] == 3

    assert main(["batches", "results", batch_id]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3

    # An ended batch cannot be canceled any more: the server answers it as it is, and the CLI says so.
    assert main(["batches", "cancel", batch_id]) == 0
    canceled = capsys.readouterr().out
    assert batch_id in canceled and "ended" in canceled and "succeeded 3" in canceled and "canceled 0" in canceled


def test_a_bad_line_is_named_and_nothing_is_submitted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batches", "list"]) == 0
    before = capsys.readouterr().out
    file = write_lines(tmp_path / "bad.jsonl", [json.dumps(message("Hi")), "{not json"])
    assert main(["batches", "submit", str(file), "--model", "smollm2"]) == 2
    err = capsys.readouterr().err
    assert f"{file}:2: not JSON" in err

    no_model = write_lines(tmp_path / "no-model.jsonl", [json.dumps(message("Hi"))])
    assert main(["batches", "submit", str(no_model)]) == 2
    assert f"{no_model}:1: no model" in capsys.readouterr().err

    twice = json.dumps({"custom_id": "same", "params": {**message("Hi"), "model": "smollm2"}})
    dup = write_lines(tmp_path / "dup.jsonl", [twice, twice])
    assert main(["batches", "submit", str(dup)]) == 2
    assert f"{dup}:2: custom_id 'same' is used by line 1 too" in capsys.readouterr().err

    assert main(["batches", "list"]) == 0
    assert capsys.readouterr().out == before  # none of them reached the server


def test_the_servers_error_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batches", "show", "msgbatch_nosuchbatch"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("basalt batches: 404 ") and "Traceback" not in err
