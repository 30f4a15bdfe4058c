"""The batch store's guarantees, on SQLite and PostgreSQL: an item is held by one lease at a time, its result is
written once and only by its current holder, and cancellation, expiry and retention end what nobody holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from basalt.batches.store import BatchStore
from basalt.control import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[BatchStore]:
    db = Store(database_url).connect()
    await db.migrate()
    try:
        yield BatchStore(lambda: db.db)
    finally:
        await db.close()


async def new_batch(store: BatchStore, batch_id: str, n: int, now: float, window: float = 86400) -> None:
    batch: dict[str, Any] = {
        "id": batch_id, "kind": "anthropic", "owner": None, "key_id": None, "status": "in_progress",
        "processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0,
        "created_at": now, "expires_at": now + window, "metadata": {}, "extra": {},
    }  # fmt: skip
    items = [
        {"batch_id": batch_id, "position": i, "custom_id": f"c{i}", "endpoint": "messages", "request": {"x": i},
         "request_id": f"req_{batch_id}_{i}", "state": "queued", "attempts": 0}
        for i in range(n)
    ]  # fmt: skip
    await store.create(batch, items)


async def test_an_item_has_one_holder_and_one_result(store: BatchStore) -> None:
    now = time.time()
    await new_batch(store, "msgbatch_a", 10, now)
    first, second = await asyncio.gather(
        store.lease(10, "lease1", now, now + 60, "i1", "r1"), store.lease(10, "lease2", now, now + 60, "i2", "r2")
    )
    taken = [(i.batch_id, i.position) for i in [*first, *second]]
    assert len(taken) == len(set(taken)) == 10  # every item once, by one of them
    assert await store.lease(10, "lease3", now, now + 60, "i3", "r3") == []  # held: nobody else gets them

    item = (first or second)[0]
    later = now + 61  # the holder stopped renewing: its lease has passed, and another worker takes the item
    retaken = [i for i in await store.lease(10, "lease4", later, later + 60, "i4", "r4") if i.position == item.position]
    assert retaken and retaken[0].attempts == 2 and retaken[0].request_id == item.request_id  # the same request id
    assert not await store.finish(item, "succeeded", {"by": "old"}, later)  # the old holder's result is refused
    assert await store.finish(retaken[0], "succeeded", {"by": "new"}, later)
    assert not await store.finish(retaken[0], "errored", {"again": True}, later)  # written once
    far = now + 10_000  # every lease long passed: the finished item still never runs again
    again = await store.lease(10, "lease5", far, far + 60, "i5", "r5")
    assert item.position not in [i.position for i in again] and len(again) == 9
    batch = await store.get("msgbatch_a")
    assert batch is not None and (batch.counts.processing, batch.counts.succeeded) == (9, 1)
    [result] = [r for r in await store.results("msgbatch_a", -1, 100) if r.position == item.position]
    assert result.message == {"by": "new"} and result.request_id == item.request_id


async def test_renewal_keeps_an_item_from_being_retaken(store: BatchStore) -> None:
    now = time.time()
    await new_batch(store, "msgbatch_r", 1, now)
    [item] = await store.lease(1, "held", now, now + 10, "i1", "r1")
    await store.renew(["held"], now + 100)
    assert await store.lease(1, "other", now + 50, now + 60, "i2", "r2") == []
    assert await store.finish(item, "succeeded", {}, now + 50)


async def test_cancel_ends_unstarted_items_and_the_batch_once_the_rest_finish(store: BatchStore) -> None:
    now = time.time()
    await new_batch(store, "msgbatch_c", 5, now)
    held = await store.lease(2, "l", now, now + 60, "i", "r")
    await store.cancel("msgbatch_c", now)
    batch = await store.get("msgbatch_c")
    assert batch is not None and batch.status == "canceling" and batch.cancel_initiated_at == now
    assert (batch.counts.processing, batch.counts.canceled) == (2, 3)
    assert await store.lease(5, "l2", now, now + 60, "i", "r") == []  # a canceling batch gives out nothing
    for item in held:
        assert await store.finish(item, "succeeded", {}, now)
    batch = await store.get("msgbatch_c")
    assert batch is not None and batch.status == "ended" and batch.ended_at == now
    assert (batch.counts.succeeded, batch.counts.canceled, batch.counts.total) == (2, 3, 5)
    assert await store.delete("msgbatch_c") and await store.get("msgbatch_c") is None


async def test_expiry_then_retention(store: BatchStore) -> None:
    now = time.time()
    await new_batch(store, "msgbatch_e", 4, now, window=100)
    [held] = await store.lease(1, "l", now, now + 500, "i", "r")
    await store.sweep(now + 101, retention_seconds=1000)
    batch = await store.get("msgbatch_e")
    assert batch is not None and batch.status == "in_progress" and batch.counts.expired == 3  # one still held
    assert await store.lease(4, "l2", now + 101, now + 200, "i", "r") == []  # nothing is taken after the window
    assert await store.finish(held, "succeeded", {}, now + 102)
    batch = await store.get("msgbatch_e")
    assert batch is not None and batch.status == "ended"
    await store.sweep(now + 102 + 999, retention_seconds=1000)
    assert await store.get("msgbatch_e") is not None
    await store.sweep(now + 102 + 1001, retention_seconds=1000)
    assert await store.get("msgbatch_e") is None and await store.results("msgbatch_e", -1, 10) == []


async def test_slots_are_shared_in_turn_so_a_small_batch_is_not_starved(store: BatchStore) -> None:
    now = time.time()
    await new_batch(store, "msgbatch_1big", 50, now)
    await new_batch(store, "msgbatch_2small", 2, now)
    taken = await store.lease(6, "l", now, now + 60, "i", "r")
    by_batch = sorted(i.batch_id for i in taken)
    assert by_batch.count("msgbatch_2small") == 2 and by_batch.count("msgbatch_1big") == 4
    for item in taken:  # finished items in front of the queued ones do not stop the next lease finding them
        assert await store.finish(item, "succeeded", {}, now)
    more = await store.lease(50, "l2", now, now + 60, "i", "r")
    assert len(more) == 46 and {i.batch_id for i in more} == {"msgbatch_1big"}
