"""Real databases for the control plane: a fresh SQLite file, or a fresh PostgreSQL database on 127.0.0.1."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/{}"
REDIS = "redis://127.0.0.1:6379/0"


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc", sql], check=True)


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"basalt_{secrets.token_hex(6)}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield PG.format(name)
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}"
    else:
        yield request.getfixturevalue("pg_url")
