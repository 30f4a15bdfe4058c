"""The usage ledger's writer: every reservation is durable before the upstream call, and nothing is lost after.

A reservation or settlement is first appended to a local journal file (one write(2), a few microseconds; it survives
the process being killed, as SQLite's WAL does with synchronous=NORMAL), then moved to the database in batches, one
transaction per `FLUSH_SECONDS` however busy the server is. A journal segment is deleted only once its rows are
committed; on start, segments a killed process left behind are replayed into the database first.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
from pathlib import Path
from typing import Any

import orjson

from .store import Store

log = logging.getLogger("basalt.ledger")
FLUSH_SECONDS = 0.2
_segments = itertools.count()


def journal_prefix(instance: str) -> str:
    return "ledger-" + re.sub(r"[^A-Za-z0-9_.-]", "_", instance) + "-"


class Journal:
    """Append-only JSON lines in the current segment file; `rotate` starts a new one and returns the old path."""

    def __init__(self, directory: Path, instance: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.prefix = journal_prefix(instance)
        self.path = self._open()

    def _open(self) -> Path:
        path = self.directory / f"{self.prefix}{os.getpid()}-{next(_segments):06d}.jsonl"
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return path

    def append(self, kind: str, row: dict[str, Any]) -> None:
        os.write(self.fd, orjson.dumps([kind, row]) + b"\n")

    def rotate(self) -> Path:
        os.close(self.fd)
        old, self.path = self.path, self._open()
        return old

    def close(self, remove: bool = True) -> None:
        os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)


class Ledger:
    def __init__(self, store: Store, journal: Journal) -> None:
        self.store = store
        self.journal = journal
        self._new: list[dict[str, Any]] = []
        self._settled: dict[str, dict[str, Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._soon: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._unwritten: list[Path] = []  # segments whose rows a failed write put back in the queue

    async def reserve(self, row: dict[str, Any]) -> None:
        """Durable when it returns: the row is in the journal; the database has it within FLUSH_SECONDS."""
        self.journal.append("r", row)
        self._new.append(row)
        self._schedule()

    def settle(self, row: dict[str, Any]) -> None:
        """The final figures of a reserved row (keyed by request_id), or a progress update of some columns."""
        self.journal.append("s", row)
        previous = self._settled.get(row["request_id"])
        self._settled[row["request_id"]] = {**previous, **row} if previous else row
        self._schedule()

    async def flush(self) -> None:
        """Waits until everything recorded so far is in the database."""
        done = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        self._ensure_writer()
        self._wake.set()
        await done

    async def close(self, timeout: float = 10.0) -> None:
        """Flushes and closes; if the database stays unreachable, the journal is left for the next start to replay."""
        flushed = True
        if self._writer is not None:
            try:
                await asyncio.wait_for(self.flush(), timeout)
            except TimeoutError:
                flushed = False
                log.error("the usage ledger could not reach the database; %s keeps its rows", self.journal.directory)
            self._writer.cancel()
            self._writer = None
        if self._soon is not None:
            self._soon.cancel()
        self.journal.close(remove=flushed and not self._unwritten)

    def _schedule(self) -> None:
        if self._soon is None:
            self._ensure_writer()
            self._soon = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._wake.set)

    def _ensure_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._soon = None
            new, settled, waiters = self._new, list(self._settled.values()), self._waiters
            self._new, self._settled, self._waiters = [], {}, []
            segment = self.journal.rotate()
            try:
                await write_rows(self.store, new, settled)
            except Exception:
                log.exception(
                    "the usage ledger could not write %d rows; they stay in %s", len(new) + len(settled), segment
                )
                new = await _not_written(self.store, new)
                self._new[:0] = new  # kept in order, and in the journal, until the database takes them
                for row in settled:
                    later = self._settled.get(row["request_id"])
                    self._settled[row["request_id"]] = {**row, **later} if later else row
                self._waiters[:0] = waiters
                self._unwritten.append(segment)
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            for done in (*self._unwritten, segment):
                done.unlink(missing_ok=True)
            self._unwritten.clear()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)


async def _not_written(store: Store, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reservations of a failed batch that the database does not hold (it may hold some, after a replay)."""
    try:
        present = await store.existing_requests([r["request_id"] for r in new])
    except Exception:
        return new
    return [r for r in new if r["request_id"] not in present]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


async def replay(store: Store, directory: Path, instance: str) -> int:
    """Moves journal segments a previous run of this instance left behind into the database; returns the rows."""
    prefix = journal_prefix(instance)
    segments = sorted(directory.glob(prefix + "*.jsonl")) if directory.exists() else []
    total = 0
    for segment in segments:
        pid = segment.name[len(prefix) :].split("-")[0]
        if pid.isdigit() and (int(pid) == os.getpid() or _alive(int(pid))):
            continue  # a live process's journal: it writes these rows itself
        new: dict[str, dict[str, Any]] = {}
        settled: dict[str, dict[str, Any]] = {}
        for line in segment.read_bytes().splitlines():
            try:
                kind, row = orjson.loads(line)
            except (orjson.JSONDecodeError, ValueError):
                continue  # a line cut short by the crash: its write never returned, so nothing relied on it
            rid = row["request_id"]
            if kind == "r":
                new[rid] = row
            else:
                settled[rid] = {**settled.get(rid, {}), **row}
        present = await store.existing_requests(list(new))  # a crash after commit but before the segment was deleted
        await write_rows(store, [r for k, r in new.items() if k not in present], list(settled.values()))
        segment.unlink()
        total += len(new) + len(settled)
    return total
