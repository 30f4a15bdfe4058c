"""Which file store a server uses, and whose a caller's files are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from ..control.principal import Principal
from .database import DatabaseFileStore
from .local import LocalFileStore
from .types import FileStore


def open_store(kind: str | None, database_url: str, home: Path, engine: Callable[[], AsyncEngine]) -> FileStore:
    """`kind` as configured (files.store); unset: the database when it is PostgreSQL (replicas share it, not a
    directory), the home's directory otherwise (SQLite is one machine's, and a file system serves bytes best)."""
    if kind is None:
        kind = "database" if database_url.startswith("postgresql") else "local"
    if kind == "database":
        return DatabaseFileStore(engine)
    return LocalFileStore(home / "files")


def owner_of(principal: Principal) -> str:
    """Files belong to the key's project (every key of a project sees them, as OpenAI's project keys do), to the key
    itself when it has no project, and to the one local user when auth is off."""
    if principal.project is not None:
        return principal.project.id
    if principal.key is not None:
        return "key:" + principal.key.id
    return "local"
