"""The `basalt` command as a person runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def basalt(*args: str, home: Path, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BASALT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "basalt.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_pull_a_local_gguf_then_list_models(tmp_path: Path, model_path: Path) -> None:
    pulled = basalt("pull", str(model_path), "--as", "tiny", home=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert "installed tiny" in pulled.stdout
    assert "100.0%" in pulled.stderr  # the progress bar ran to the end
    listed = basalt("models", home=tmp_path)
    header, row = listed.stdout.splitlines()
    assert header.split()[:2] == ["NAME", "SIZE"]
    assert row.split()[0] == "tiny" and "98.4 MB" in row


def test_pull_refuses_an_unknown_model(tmp_path: Path) -> None:
    result = basalt("pull", "no-such-model", home=tmp_path)
    assert result.returncode == 1 and "unknown model" in result.stderr


def test_pull_as_a_path_is_refused_and_writes_nothing_outside_the_store(tmp_path: Path, model_path: Path) -> None:
    home = tmp_path / "a" / "b"
    result = basalt("pull", str(model_path), "--as", "../../x", home=home)
    assert result.returncode == 1 and "--as '../../x' is not allowed" in result.stderr
    assert not (tmp_path / "a" / "x").exists() and not list(tmp_path.rglob("model.gguf"))


def test_pull_refuses_a_file_that_only_starts_with_the_gguf_magic(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + bytes(1000))
    result = basalt("pull", str(fake), home=tmp_path / "home")
    assert result.returncode == 1 and "is not a GGUF model file: GGUF version 0" in result.stderr


def test_models_when_the_store_is_empty(tmp_path: Path) -> None:
    assert "no models installed" in basalt("models", home=tmp_path).stdout


def test_chat_streams_replies_and_keeps_the_conversation(basalt_home: Path) -> None:
    result = basalt("chat", "--max-tokens", "8", home=basalt_home, stdin="Hello!\nAnd again?\n")
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.split("> ") if line.strip()]
    assert len(replies) == 2 and all(r.strip() for r in replies)
