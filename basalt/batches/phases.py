"""A batch's phases around its items, each run by one claim-holder at a time, on whichever replica claims it first:
`validating` (its dialect reads the input into items, after the create call has returned: OpenAI's input file) and
`finalizing` (its dialect writes what it writes once the items are done: OpenAI's output and error files).

A claim is one conditional UPDATE on the batch's row (its phase, and nobody holding it or the holder's claim passed),
renewed with the worker's leases; the phase's result is written by another that holds only for the same claim. So a
phase is done exactly once however many replicas race for it: a validating batch gets its items once, and of two
finalizers (the first one's claim passed while it wrote) exactly one records its files; the other removes its own.
A holder killed mid-phase stops renewing, and once its claim passes any worker takes the phase again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .rows import item_rows
from .store import BatchStore
from .types import BatchInfo, NewItem

log = logging.getLogger("basalt.batches")
RETRY_SECONDS = 5.0  # a phase that failed here (the database away, say) is tried again after this


@dataclass(frozen=True)
class Validated:
    items: list[NewItem] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # non-empty: the input failed and no item runs
    extra: dict[str, Any] = field(default_factory=dict)  # fields added to the batch's extra ones


@dataclass(frozen=True)
class Hooks:
    """What a dialect does in its batches' phases (a kind without a hook never enters that phase)."""

    validate: Callable[[BatchInfo], Awaitable[Validated]] | None = None
    finalize: Callable[[BatchInfo], Awaitable[dict[str, Any]]] | None = None  # the extra fields it adds
    discard: Callable[[dict[str, Any]], Awaitable[None]] | None = None  # removes what the fields name (files)
    sweep: Callable[[float], Awaitable[None]] | None = None  # the dialect's own expiry pass, with the worker's


class Phases:
    def __init__(self, store: BatchStore, hooks: Mapping[str, Hooks], lease_seconds: float) -> None:
        self.store = store
        self.hooks = hooks  # by batch kind; the dialects register theirs on the engine
        self.lease_seconds = lease_seconds
        self.held: set[str] = set()  # the claims running here, renewed with the worker's leases

    async def pending(self, now: float) -> list[tuple[str, str]]:
        return await self.store.pending(now, 8)

    async def run(self, batch_id: str, status: str) -> bool:
        """Claims the batch's phase and runs it; True if this call moved the batch on."""
        claim_id, now = secrets.token_hex(16), time.time()
        info = await self.store.claim(batch_id, status, claim_id, now, now + self.lease_seconds)
        if info is None:
            return False  # another worker has it, or it moved on meanwhile
        self.held.add(claim_id)
        try:
            hooks = self.hooks.get(info.kind)
            if hooks is None:  # this process serves no such dialect: another replica may
                await self.store.release(batch_id, claim_id, time.time() + RETRY_SECONDS)
                return False
            if status == "validating":
                return await self._validate(info, claim_id, hooks)
            return await self._finalize(info, claim_id, hooks)
        except asyncio.CancelledError:  # stopping: let another worker have it at once
            with contextlib.suppress(Exception):
                await self.store.release(batch_id, claim_id, time.time())
            raise
        except Exception:
            log.exception("the %s phase of batch %s failed; it is tried again", status, batch_id)
            with contextlib.suppress(Exception):
                await self.store.release(batch_id, claim_id, time.time() + RETRY_SECONDS)
            return False
        finally:
            self.held.discard(claim_id)

    async def _validate(self, info: BatchInfo, claim_id: str, hooks: Hooks) -> bool:
        if hooks.validate is None:
            checked = Validated()
        else:
            checked = await hooks.validate(info)
        extra = {**info.extra, **checked.extra}
        if checked.errors:
            extra["errors"] = checked.errors
            rows: list[dict[str, Any]] = []
        else:  # up to 100,000 requests to serialise: off the loop
            rows = await asyncio.to_thread(item_rows, info.id, checked.items)
        return await self.store.validated(info.id, claim_id, rows, extra, time.time())

    async def _finalize(self, info: BatchInfo, claim_id: str, hooks: Hooks) -> bool:
        written = await hooks.finalize(info) if hooks.finalize is not None else {}
        extra = {**info.extra, **written}
        if await self.store.finalized(info.id, claim_id, extra):
            return True
        if hooks.discard is not None:  # another worker's files stand: remove ours
            await hooks.discard(extra)
        return False

    async def removing(self, info: BatchInfo) -> None:
        """Before retention deletes a batch: removes what its dialect wrote for it."""
        hooks = self.hooks.get(info.kind)
        if hooks is not None and hooks.discard is not None:
            await hooks.discard(info.extra)

    async def sweep(self, now: float) -> None:
        for hooks in list(self.hooks.values()):
            if hooks.sweep is not None:
                await hooks.sweep(now)
