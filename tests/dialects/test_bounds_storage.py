"""The largest max_tokens a request may carry is stored in the usage ledger of both databases, and the first value
past it never reaches a ledger row: the case that used to leave PostgreSQL's ledger writer retrying one row forever."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from basalt import InProcess, Settings
from basalt.config import ControlSettings, Deployment

from ..control.conftest import PG, psql
from ..fakes.upstream import fake_anthropic_upstream

LARGEST = 2**31 - 1


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield "sqlite", f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}"
        return
    name = f"basalt_bounds_{tmp_path.name[-12:].replace('-', '_')}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield name, PG.format(name)
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def reserved_output_tokens(kind: str, url: str) -> list[int]:
    query = "SELECT reserved_output_tokens FROM usage"
    if kind == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")) as db:
            return [row[0] for row in db.execute(query)]
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", kind, "-tAc", query], check=True, capture_output=True
    )
    return [int(line) for line in out.stdout.decode().split()]


def test_the_largest_max_tokens_is_stored_and_the_next_is_refused(database: tuple[str, str], tmp_path: Path) -> None:
    kind, url = database
    ask = [{"role": "user", "content": "Hi"}]
    with fake_anthropic_upstream() as (upstream, _):
        deployments = [Deployment(name="claude", provider="anthropic", model="up", base_url=upstream)]
        settings = Settings(
            home=tmp_path, serve_local=False, deployments=deployments, control=ControlSettings(database=url)
        )
        with InProcess(settings) as basalt:
            http = basalt.http_client()
            for max_tokens, status in ((LARGEST, 200), (LARGEST + 1, 400), (2**63, 400)):
                body = {"model": "claude", "max_tokens": max_tokens, "messages": ask}
                assert http.post("/v1/messages", json=body).status_code == status
            assert http.get("/v1/usage").status_code == 200  # the report flushes the ledger first, and answers
    assert reserved_output_tokens(kind, url) == [LARGEST]
