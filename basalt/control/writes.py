"""Ledger rows into the database, so that no single row can stop the rows after it.

A batch goes in one transaction. If the database refuses it for a reason that lies in the data (a value out of a
column's range, a NUL character, a constraint), the batch is written again row by row: a refused row is fitted to its
columns (`bounds.fit`) and tried once more, and if even that is refused it goes to the dead-letter file next to the
journal (logged once, counted). A failure to reach the database is different: it is raised, and the caller keeps the
rows and tries again later.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa

from .bounds import fit
from .schema import usage
from .store import Store

log = logging.getLogger("basalt.ledger")
DEAD_LETTER = "dead-letter.jsonl"
_DATA_SQLSTATES = ("22", "23")  # PostgreSQL's data exception and integrity constraint classes


def transient(exc: BaseException) -> bool:
    """Whether a failed write says the database is unreachable or busy (retry later), not that the rows are bad."""
    if isinstance(exc, OSError | TimeoutError | sa.TimeoutError | sa.DisconnectionError):
        return True
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if isinstance(sqlstate, str):  # PostgreSQL: only its data and constraint classes are about the rows
            return not sqlstate.startswith(_DATA_SQLSTATES)
        return isinstance(exc, sa.OperationalError)  # SQLite: locked, I/O error, no such table
    return False


def why(error: BaseException) -> str:
    """An error's first line (SQLAlchemy's go on with the statement and every parameter)."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0][:500] if lines else ''}"


class DeadLetter:
    """JSON lines of the rows the database would not take, with why; `count` is what this process added."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DEAD_LETTER
        self.count = 0

    def add(self, kind: str, row: Any, error: BaseException | str) -> None:
        reason = error if isinstance(error, str) else why(error)
        entry = {"at": time.time(), "kind": kind, "row": row, "error": reason}
        # The standard encoder, not orjson: it writes integers of any size, and anything else as its repr.
        line = json.dumps(entry, default=repr, ensure_ascii=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        self.count += 1
        what = {"r": "reservation", "s": "settlement"}.get(kind, "journal line")
        log.error("the usage ledger could not store a %s (%s); it is kept in %s", what, reason, self.path)


class RowWriter:
    def __init__(self, store: Store, dead: DeadLetter) -> None:
        self.store = store
        self.dead = dead
        self.fitted = 0  # rows stored only once fitted to their columns

    async def write(self, new: list[dict[str, Any]], settled: list[dict[str, Any]]) -> None:
        """Every row is in the database or the dead-letter file when it returns; raises if the database cannot be
        reached (then some rows may be in and the rest not: reservations are checked before a retry)."""
        if any(row.get("batch_id") for row in new):
            # A batch item's call runs again with its fixed request id after a crash (or on another replica once
            # its lease passed): its row is there already, and the rerun's settlement settles that one row.
            present = await self.store.existing_requests([r["request_id"] for r in new if r.get("batch_id")])
            new = [row for row in new if row.get("request_id") not in present]
        try:
            await write_rows(self.store, new, settled)
            return
        except Exception as exc:
            if transient(exc):
                raise
            log.warning(
                "the database refused a batch of %d ledger rows; writing them one by one", len(new) + len(settled)
            )
        for row in await not_written(self.store, new):
            await self._one("r", row)
        for row in settled:
            await self._one("s", row)

    async def _one(self, kind: str, row: dict[str, Any]) -> None:
        refused = await self._try(kind, row)
        if refused is None:
            return
        if await self._try(kind, fit(usage, row)) is None:
            self.fitted += 1
            log.warning("stored ledger row %s fitted to its columns (%s)", row.get("request_id"), why(refused))
            return
        self.dead.add(kind, row, refused)

    async def _try(self, kind: str, row: dict[str, Any]) -> Exception | None:
        """None once written; the error if the database refused the row; raises if it could not be reached."""
        try:
            await write_rows(self.store, *(([row], []) if kind == "r" else ([], [row])))
        except Exception as exc:
            if transient(exc):
                raise
            return exc
        return None


async def write_rows(store: Store, new: list[dict[str, Any]], settled: list[dict[str, Any]]) -> None:
    # Settlements of one shape go in one executemany; shapes differ between final and progress updates.
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in settled:
        shapes.setdefault(frozenset(row), []).append(row)
    groups = list(shapes.values()) or [[]]
    if not new and not groups[0]:
        return
    await store.write_usage(new, groups[0])
    for group in groups[1:]:
        await store.write_usage([], group)


async def not_written(store: Store, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reservations the database does not hold yet (it may hold some: a crash after a commit, a partial retry)."""
    if not new:
        return []
    present = await store.existing_requests([r["request_id"] for r in new if isinstance(r.get("request_id"), str)])
    return [r for r in new if r.get("request_id") not in present]
