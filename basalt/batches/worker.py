"""The batch worker of one replica: leases items of in-progress batches, runs each through the one flow, and writes
its result; renews the leases it holds, and sweeps (expiry, cancellation of items whose holder died, retention).

Exactly once: an item's result is written by a conditional UPDATE that holds only for its current lease (store.py),
and its call carries the request id fixed at submit, so a rerun (after a crash, or on another replica once the
lease passed) settles the same ledger row instead of adding one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..canonical import fold_events, parse_messages_request
from ..config import BatchSettings
from ..control import ControlPlane
from ..control.journal import new_run
from ..errors import BasaltError, InternalError, InvalidRequest, Overloaded, RateLimited
from ..flow import Call, CallOptions, Flow
from .phases import Hooks, Phases
from .rows import error_result
from .store import BatchStore, Leased

log = logging.getLogger("basalt.batches")
MAX_RETRY_SECONDS = 60.0  # the longest a rate-limited item waits before it is tried again

# Items run as batch work: in the capacity interactive calls leave (the local engine) and within each deployment's
# batch share (the router).
BATCH = CallOptions(priority="batch")


class Worker:
    def __init__(
        self,
        settings: BatchSettings,
        store: BatchStore,
        control: ControlPlane,
        flow: Flow,
        concurrency: int,
        model_slots: Callable[[str], int | None],
        hooks: Mapping[str, Hooks] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.control = control
        self.flow = flow
        self.concurrency = concurrency
        self.model_slots = model_slots  # how many items of a model may run at once here (None: no model by that name)
        self.instance = control.instance
        self.run = new_run()  # this worker's run, recorded on each item it takes
        self._active: dict[asyncio.Task[None], Leased] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._quiet_until = 0.0
        self.phases = Phases(store, hooks if hooks is not None else {}, settings.lease_seconds)
        self._phasing: dict[str, asyncio.Task[bool]] = {}  # batch id -> its phase, run here
        self._phases_due = True  # look for phases now (a batch submitted here), not only once a poll

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._main(), name="basalt-batches")

    def wake(self) -> None:
        """New work may be there (a batch submitted here): look now rather than at the next poll."""
        self._phases_due = True
        self._wake.set()

    async def stop(self) -> None:
        """Stops taking items; items running here are let go at once, so another worker need not wait for their
        leases to pass (their calls' ledger rows settle as cancelled and are settled again by the rerun)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        held = list(self._active.values())
        for task in [*self._active, *self._phasing.values()]:
            task.cancel()
        await asyncio.gather(*self._active, *self._phasing.values(), return_exceptions=True)
        for item in held:
            with contextlib.suppress(Exception):
                await self.store.retry_later(item, time.time())

    async def _main(self) -> None:
        next_sweep = next_renew = next_phases = 0.0
        renew_every = self.settings.lease_seconds / 3
        while True:
            now = time.monotonic()
            try:
                if now >= next_renew:
                    next_renew = now + renew_every
                    await self._renew()
                if now >= next_sweep:
                    next_sweep = now + self.settings.sweep_seconds
                    await self.store.sweep(time.time(), self.settings.retention_days * 86400, self.phases.removing)
                    await self.phases.sweep(time.time())
                if self._phases_due or now >= next_phases:  # once a poll, not once per finished item
                    self._phases_due, next_phases = False, now + self.settings.poll_seconds
                    await self._start_phases()
                took = await self._take()
            except Exception:  # the database is away, say: keep the items held and try again shortly
                if now >= self._quiet_until:  # once a minute, not once a poll, while it stays away
                    log.exception("the batch worker could not reach the database; retrying")
                    self._quiet_until = now + 60
                took = 0
            if took and len(self._active) < self.concurrency:
                continue  # there may be more right away
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(self.settings.poll_seconds, renew_every))

    async def _take(self) -> int:
        free = self.concurrency - len(self._active)
        if free <= 0:
            return 0
        now = time.time()
        lease_id = secrets.token_hex(16)
        items = await self.store.lease(free, lease_id, now, now + self.settings.lease_seconds, self.instance, self.run)
        for item in items:
            task = asyncio.get_running_loop().create_task(self._run(item))
            self._active[task] = item
            task.add_done_callback(self._done)
        return len(items)

    async def _start_phases(self) -> None:
        """Validating and finalizing batches nobody holds: each phase a task of its own beside the items (reading
        a 50,000-line input takes seconds), at most two at a time here."""
        if len(self._phasing) >= 2:
            return
        for batch_id, status in await self.phases.pending(time.time()):
            if batch_id not in self._phasing and len(self._phasing) < 2:
                task = asyncio.get_running_loop().create_task(self.phases.run(batch_id, status))
                self._phasing[batch_id] = task
                task.add_done_callback(functools.partial(self._phase_done, batch_id))

    def _phase_done(self, batch_id: str, _: asyncio.Task[bool]) -> None:
        self._phasing.pop(batch_id, None)
        self._wake.set()  # its items may be ready now

    def _done(self, task: asyncio.Task[None]) -> None:
        self._active.pop(task, None)
        self._wake.set()  # a slot is free

    async def _renew(self) -> None:
        leases = sorted({item.lease_id for item in self._active.values()})
        await self.store.renew(leases, time.time() + self.settings.lease_seconds)
        await self.store.renew_claims(sorted(self.phases.held), time.time() + self.settings.lease_seconds)

    async def _run(self, item: Leased) -> None:
        try:
            state, result = await self._answer(item)
        except _RetryLater as later:
            await self.store.retry_later(item, time.time() + later.seconds)
            return
        try:
            written = await self.store.finish(item, state, result, time.time())
        except Exception:
            log.exception("could not store the result of %s item %d; it runs again", item.batch_id, item.position)
            return
        if not written:
            log.warning("%s item %d was taken by another worker meanwhile; its result there stands",
                        item.batch_id, item.position)  # fmt: skip

    async def _answer(self, item: Leased) -> tuple[str, dict[str, Any]]:
        """("succeeded", the message) or ("errored", the error); raises _RetryLater for a limit that passes."""
        if item.request is None:  # a bad line is errored at submit and never leased; kept for safety
            return "errored", error_result(InvalidRequest("The request could not be decoded."))
        try:
            request = parse_messages_request(item.request)
            principal = await self.control.principal_of(item.key_id)
            slots = self.model_slots(request.model)
            semaphore = self._slots.setdefault(request.model, asyncio.Semaphore(slots or self.concurrency))
            async with semaphore:
                call = Call(principal, request, item.endpoint, item.request_id, BATCH, dialect="batch",
                            batch_id=item.batch_id)  # fmt: skip
                return "succeeded", await fold_events(await self.flow.answer(call))
        except (RateLimited, Overloaded) as exc:
            if exc.retry_after is not None:  # the limit says when: the item waits, it does not fail
                raise _RetryLater(min(exc.retry_after, MAX_RETRY_SECONDS)) from None
            return "errored", error_result(exc)
        except BasaltError as exc:
            return "errored", error_result(exc)
        except Exception:
            log.exception("batch item %s/%d failed", item.batch_id, item.position)
            return "errored", error_result(InternalError("Internal server error"))


class _RetryLater(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
