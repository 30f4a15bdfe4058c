"""The usage ledger's writer: reservations are durable before the upstream call, settlements follow.

Writes from concurrent requests are group-committed: whatever queued while one transaction ran goes into the next,
so a busy server does one database round trip for many requests, and an idle one one per request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .store import Store

log = logging.getLogger("basalt.ledger")


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._new: list[dict[str, Any]] = []
        self._settled: dict[str, dict[str, Any]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None

    async def reserve(self, row: dict[str, Any]) -> None:
        """Returns once the row is committed; raises if the database could not take it."""
        done = asyncio.get_running_loop().create_future()
        self._new.append(row)
        self._waiters.append(done)
        self._kick()
        await done

    def settle(self, row: dict[str, Any]) -> None:
        """Queues the final figures of a reserved row (keyed by request_id); a later settle of the same row wins."""
        self._settled[row["request_id"]] = row
        self._kick()

    async def flush(self) -> None:
        """Waits until everything queued so far is written."""
        done = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        self._kick()
        await done

    async def close(self) -> None:
        if self._writer is not None:
            await self.flush()
            self._writer.cancel()
            self._writer = None

    def _kick(self) -> None:
        if self._writer is None or self._writer.done():
            self._wake = asyncio.Event()
            self._writer = asyncio.get_running_loop().create_task(self._run())
        assert self._wake is not None
        self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            new, settled, waiters = self._new, list(self._settled.values()), self._waiters
            self._new, self._settled, self._waiters = [], {}, []
            try:
                await self._write(new, settled)
            except Exception as exc:
                log.exception("the usage ledger could not write %d rows", len(new) + len(settled))
                # Reservations fail their requests (nothing is served unmetered); settlements are kept and retried.
                for row in settled:
                    self._settled.setdefault(row["request_id"], row)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                await asyncio.sleep(0.5)
                if self._settled:
                    self._wake.set()
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _write(self, new: list[dict[str, Any]], settled: list[dict[str, Any]]) -> None:
        # Settlements of one shape go in one executemany; shapes differ only between full and progress updates.
        shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
        for row in settled:
            shapes.setdefault(frozenset(row), []).append(row)
        groups = list(shapes.values()) or [[]]
        if not new and not groups[0]:
            return
        await self.store.write_usage(new, groups[0])
        for group in groups[1:]:
            await self.store.write_usage([], group)
