"""The usage ledger's writer: every reservation is durable before the upstream call, and nothing is lost after.

A reservation or settlement is first appended to a local journal file (`journal.py`: one write(2), a few
microseconds; it survives the process being killed, as SQLite's WAL does with synchronous=NORMAL), then moved to the
database in batches, one transaction per `FLUSH_SECONDS` however busy the server is (`writes.py`: a row the database
refuses is isolated, so it never holds back the rows after it). A journal segment is deleted only once its rows are
committed; on start, segments that dead runs left behind are replayed into the database first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .journal import Journal, Run, other_runs
from .store import Store
from .writes import DeadLetter, RowWriter, not_written

log = logging.getLogger("basalt.ledger")
FLUSH_SECONDS = 0.2
RETRY_SECONDS = 1.0


class Ledger:
    def __init__(self, store: Store, journal: Journal) -> None:
        self.store = store
        self.journal = journal
        self.writer = RowWriter(store, DeadLetter(journal.directory))
        self._new: list[dict[str, Any]] = []
        self._settled: dict[str, dict[str, Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._soon: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._unwritten: list[Path] = []  # segments whose rows a failed write put back in the queue
        # The journal lag, for the metrics: rows in the journal not yet in the database, and since when (monotonic)
        # the oldest of them has waited.
        self._writing = 0
        self._queued_since: float | None = None
        self._writing_since: float | None = None

    @property
    def dead_lettered(self) -> int:
        """Rows this process could not store and put in the dead-letter file instead (for the metrics)."""
        return self.writer.dead.count

    @property
    def fitted(self) -> int:
        """Rows this process stored only once their values were fitted to the columns (for the metrics)."""
        return self.writer.fitted

    @property
    def unflushed(self) -> int:
        """Rows written to the journal and not yet to the database (queued, or in the batch being written)."""
        return len(self._new) + len(self._settled) + self._writing

    def lag_seconds(self, now: float | None = None) -> float:
        """How long the oldest unflushed row has waited; 0 when everything is in the database."""
        since = [t for t in (self._queued_since, self._writing_since) if t is not None]
        return max(0.0, (now or time.monotonic()) - min(since)) if since else 0.0

    async def reserve(self, row: dict[str, Any]) -> None:
        """Durable when it returns: the row is in the journal; the database has it within FLUSH_SECONDS."""
        row["run"] = self.journal.run  # whose it is, so a restart reconciles only the rows of runs that died
        self._new.append(self.journal.append("r", row))
        self._queued()
        self._schedule()

    def settle(self, row: dict[str, Any]) -> None:
        """The final figures of a reserved row (keyed by request_id), or a progress update of some columns."""
        row = self.journal.append("s", row)
        previous = self._settled.get(row["request_id"])
        self._settled[row["request_id"]] = {**previous, **row} if previous else row
        self._queued()
        self._schedule()

    def _queued(self) -> None:
        if self._queued_since is None:
            self._queued_since = time.monotonic()

    async def flush(self) -> None:
        """Waits until everything recorded so far is in the database (or, refused by it, in the dead-letter file)."""
        done = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        self._ensure_writer()
        self._wake.set()
        await done

    async def close(self, timeout: float = 10.0) -> None:
        """Flushes and closes; if the database stays unreachable, the journal is left for the next start to replay."""
        flushed = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self.flush(), timeout)
            except TimeoutError:
                flushed = False
                log.error("the usage ledger could not reach the database; %s keeps its rows", self.journal.directory)
            self._task.cancel()
            self._task = None
        if self._soon is not None:
            self._soon.cancel()
        self.journal.close(remove=flushed and not self._unwritten)

    def _schedule(self) -> None:
        if self._soon is None:
            self._ensure_writer()
            self._soon = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._wake.set)

    def _ensure_writer(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._soon = None
            new, settled, waiters = self._new, list(self._settled.values()), self._waiters
            self._new, self._settled, self._waiters = [], {}, []
            self._writing, self._writing_since = len(new) + len(settled), self._queued_since
            self._queued_since = None
            segment = self.journal.rotate()
            try:
                await self.writer.write(new, settled)
            except Exception:
                log.exception("the usage ledger could not reach the database; %d rows wait", len(new) + len(settled))
                await self._keep(new, settled, waiters, segment)
                self._requeued()
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
                continue
            self._writing, self._writing_since = 0, None
            for done in (*self._unwritten, *([segment] if segment else [])):
                done.unlink(missing_ok=True)
            self._unwritten.clear()
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _requeued(self) -> None:
        """A failed batch is back in the queue: its rows are queued rows again, as old as they were."""
        since = [t for t in (self._writing_since, self._queued_since) if t is not None]
        self._queued_since = min(since) if since else None
        self._writing, self._writing_since = 0, None

    async def _keep(
        self,
        new: list[dict[str, Any]],
        settled: list[dict[str, Any]],
        waiters: list[asyncio.Future[None]],
        segment: Path | None,
    ) -> None:
        """Puts a batch the database could not take back in the queue, in order, to be retried."""
        with contextlib.suppress(Exception):  # still unreachable: retry them all (one already in is skipped then)
            new = await not_written(self.store, new)
        self._new[:0] = new
        for row in settled:
            later = self._settled.get(row["request_id"])
            self._settled[row["request_id"]] = {**row, **later} if later else row
        self._waiters[:0] = waiters
        if segment is not None:
            self._unwritten.append(segment)


@dataclass
class Replayed:
    """What a start found in the journals of this instance's other runs."""

    rows: int = 0
    dead_lettered: int = 0
    live: set[str] = field(default_factory=set)  # runs still running (their lock is held): not ours to touch
    failed: set[str | None] = field(default_factory=set)  # dead runs whose rows could not be written this time


async def replay(store: Store, directory: Path, instance: str) -> Replayed:
    """Moves the journals dead runs of this instance left behind into the database. Never fails because of what a
    journal holds: a line that cannot be read or a row that cannot be stored goes to the dead-letter file."""
    dead, live = other_runs(directory, instance)
    result = Replayed(live=live)
    writer = RowWriter(store, DeadLetter(directory))
    for run in dead:
        new, settled = _read(run, writer.dead)
        try:
            await writer.write(list(new.values()), list(settled.values()))
        except Exception:
            log.exception("could not replay the ledger journal of run %s; it is kept for the next start", run.run)
            result.failed.add(run.run)
            run.release(remove=False)
            continue
        run.release(remove=True)
        result.rows += len(new) + len(settled)
    result.dead_lettered = writer.dead.count
    return result


def _read(run: Run, dead: DeadLetter) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """A run's reservations and its settlements merged per request, in the order they were written."""
    new: dict[str, dict[str, Any]] = {}
    settled: dict[str, dict[str, Any]] = {}
    lines = list(run.lines())
    for n, line in enumerate(lines):
        parsed = _entry(line)
        if parsed is None:
            if line.strip() and n < len(lines) - 1:  # the last line may be cut short by the crash: nothing relied on it
                dead.add("line", line.decode(errors="replace"), "not a journal entry")
            continue
        kind, row = parsed
        rid = row["request_id"]
        if kind == "r" and rid in new and row.get("batch_id"):
            continue  # a batch item run again (a rate limit's retry): the same row, reserved once already
        if kind == "r" and rid in new:
            dead.add("r", row, "a second reservation of one request")
        elif kind == "r":
            new[rid] = row
        else:
            settled[rid] = {**settled.get(rid, {}), **row}
    return new, settled


def _entry(line: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        kind, row = orjson.loads(line)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    if kind not in ("r", "s") or not isinstance(row, dict) or not isinstance(row.get("request_id"), str):
        return None
    return kind, row
