"""The batch engine behind every batch dialect: submit, read, list, cancel, delete, results; and this replica's
worker, started and stopped with the platform.

Batches belong to an owner (the submitting key's project, or the key itself when it has none); a caller sees only
its owner's, an admin every one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..config import BatchSettings
from ..control import ControlPlane, Principal
from ..errors import InvalidRequest, NotFound
from ..flow import Flow
from . import ids
from .phases import Hooks
from .rows import item_rows
from .store import BatchStore
from .types import ID_PREFIX, KINDS, BatchInfo, ItemResult, NewItem
from .worker import Worker

MAX_WINDOW_SECONDS = 7 * 86400.0


def owner_of(principal: Principal) -> str | None:
    if principal.project is not None:
        return principal.project.id
    return principal.key.id if principal.key is not None else None


class BatchEngine:
    def __init__(
        self,
        settings: BatchSettings,
        control: ControlPlane,
        flow: Flow,
        concurrency: int,
        model_slots: Callable[[str], int | None],
    ) -> None:
        self.settings = settings
        self.store = BatchStore(lambda: control.store().db)
        self.hooks: dict[str, Hooks] = {}  # by kind: what a dialect does in its batches' phases (register)
        self.worker = Worker(settings, self.store, control, flow, concurrency, model_slots, self.hooks)

    def register(self, kind: str, hooks: Hooks) -> None:
        """A dialect's phase hooks (OpenAI's: validate the input file, write the output files)."""
        self.hooks[kind] = hooks

    def start(self) -> None:
        """Starts this replica's worker on the running event loop (unless `batches.enabled` is off)."""
        if self.settings.enabled:
            self.worker.start()

    async def aclose(self) -> None:
        await self.worker.stop()

    async def submit(
        self,
        principal: Principal,
        kind: str,
        items: list[NewItem],
        metadata: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        window_seconds: float = 86400,
        validating: bool = False,
    ) -> BatchInfo:
        """A new batch, in progress at once. Items that came with an error are errored from the start and never
        run; a batch of no items is ended from the start. With `validating`, the batch has no items yet: its kind's
        validate hook gives them, on whichever worker claims it (the create call returns first)."""
        if kind not in KINDS:
            raise ValueError(f"unknown batch kind {kind!r}")
        if len(items) > self.settings.max_requests:
            raise InvalidRequest(
                f"requests: a batch may hold at most {self.settings.max_requests} requests; got {len(items)}.",
                param="requests",
            )
        if not 60 <= window_seconds <= MAX_WINDOW_SECONDS:
            raise InvalidRequest("completion_window: from one minute to seven days", param="completion_window")
        now = time.time()
        batch_id = ids.batch_id(ID_PREFIX[kind], now)
        rows = await asyncio.to_thread(item_rows, batch_id, items)  # 100,000 requests to serialise: off the loop
        errored = sum(1 for r in rows if r["state"] == "errored")
        processing = len(rows) - errored
        status = "validating" if validating else "in_progress" if processing else "ended"
        batch = {
            "id": batch_id,
            "kind": kind,
            "owner": owner_of(principal),
            "key_id": principal.key.id if principal.key is not None else None,
            "status": status,
            "processing": processing,
            "succeeded": 0,
            "errored": errored,
            "canceled": 0,
            "expired": 0,
            "created_at": now,
            "expires_at": now + window_seconds,
            "ended_at": now if status == "ended" else None,
            "metadata": dict(metadata or {}),
            "extra": dict(extra or {}),
        }
        await self.store.create(batch, rows)
        self.worker.wake()
        return await self.get(principal, batch_id)

    async def get(self, principal: Principal, batch_id: str) -> BatchInfo:
        """NotFound if there is no such batch or it is not the caller's."""
        found = await self.store.get(batch_id) if ids.valid_batch_id(batch_id) else None
        if found is None or not (principal.admin or found.owner == owner_of(principal)):
            raise NotFound(f"No batch with id {batch_id!r}.")
        return found

    async def items(self, batch_id: str) -> list[dict[str, Any]]:
        """Each item's state, attempts and the instance and run that last took it (operators, tests)."""
        return await self.store.items(batch_id)

    async def list(
        self,
        principal: Principal,
        kind: str,
        limit: int,
        after_id: str | None = None,
        before_id: str | None = None,
    ) -> tuple[list[BatchInfo], bool]:
        """Newest first, and whether there are more beyond the page."""
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit: Input should be between 1 and 1000", param="limit")
        for name, cursor in (("after_id", after_id), ("before_id", before_id)):
            if cursor is not None and not ids.valid_batch_id(cursor):
                raise InvalidRequest(f"{name}: not a batch id", param=name)
        return await self.store.page(kind, owner_of(principal), principal.admin, limit, after_id, before_id)

    async def cancel(self, principal: Principal, batch_id: str) -> BatchInfo:
        """Unstarted items are canceled at once; started ones finish, then the batch ends."""
        await self.get(principal, batch_id)
        await self.store.cancel(batch_id, time.time())
        return await self.get(principal, batch_id)

    async def delete(self, principal: Principal, batch_id: str) -> None:
        found = await self.get(principal, batch_id)
        if found.status != "ended" or not await self.store.delete(batch_id):
            raise InvalidRequest(
                f"Batch {batch_id} cannot be deleted while it is processing; cancel it and wait for it to end first."
            )

    async def results(self, principal: Principal, batch_id: str) -> AsyncIterator[ItemResult]:
        """The finished items, in position order (all of them once the batch has ended)."""
        await self.get(principal, batch_id)
        async for result in self.store.every_result(batch_id):
            yield result
