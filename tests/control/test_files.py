"""What Basalt writes under its home is readable by its owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from basalt import InProcess
from basalt.config import ControlSettings, Settings
from basalt.engine.store import ModelStore

from ..engine.test_store import gguf
from ..fakes.upstream import fake_upstream


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The widest umask there is: every mode is then exactly what the code asked for."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_database_admin_key_and_journal_are_the_owners_only(tmp_path: Path, open_umask: None) -> None:
    """Before, basalt.db (and its -wal and -shm) came out 0644 under the usual umask, 0666 under this one."""
    home = tmp_path / "new" / "home"
    with fake_upstream() as (url, _):
        deployments = [{"name": "m", "provider": "openai", "model": "up", "base_url": url}]
        settings = Settings(home=home, serve_local=False, deployments=deployments, control=ControlSettings(auth=True))
        with InProcess(settings) as basalt, basalt.http_client() as http:
            admin = (home / "admin-key").read_text().strip()
            assert http.post("/admin/projects", json={"name": "p"}, headers={"x-api-key": admin}).status_code == 201
            ask = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
            assert http.post("/v1/messages", json=ask, headers={"x-api-key": admin}).status_code == 200
            files = sorted(home.rglob("*"))
            modes = {p.relative_to(home).as_posix(): mode(p) for p in files}
    assert mode(home) == 0o700
    assert modes["admin-key"] == modes["basalt.db"] == 0o600
    assert modes["ledger"] == 0o700
    assert [name for name in modes if name.startswith("basalt.db")] and [n for n in modes if n.startswith("ledger/")]
    wider = {name: oct(m) for name, m in modes.items() if m & 0o077}
    assert wider == {}, wider


def test_the_model_store_creates_the_home_owner_only(tmp_path: Path, open_umask: None) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(gguf())
    ModelStore(tmp_path / "home").pull(str(model))
    assert mode(tmp_path / "home") == 0o700


def test_an_existing_home_is_left_as_its_owner_set_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o750)
    home.chmod(0o750)
    with InProcess(Settings(home=home, serve_local=False)):
        pass
    assert mode(home) == 0o750 and mode(home / "basalt.db") == 0o600
