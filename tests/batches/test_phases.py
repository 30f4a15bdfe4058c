"""A batch's phases are each done once, however many replicas race for them (SQLite and PostgreSQL): two "replicas"
(their own connections and stores on one database) validating or finalizing one OpenAI batch give it its items once
and exactly one pair of output files; a finalizer whose claim passed while it wrote removes its own files; retention
removes a batch's output files with it; counts come from the batch's row, never from its items."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from basalt.batches.phases import Hooks, Phases
from basalt.batches.store import BatchStore
from basalt.batches.tables import batch_items
from basalt.control import Store
from basalt.dialects.openai_batches import hooks as openai_hooks
from basalt.errors import NotFound
from basalt.files import FileStore
from basalt.files.database import DatabaseFileStore

pytestmark = pytest.mark.anyio
OWNER = "proj"
RETENTION = 1000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Replica:
    db: Store
    store: BatchStore
    files: FileStore
    hooks: Hooks

    def phases(self, lease_seconds: float = 60, hooks: Hooks | None = None) -> Phases:
        return Phases(self.store, {"openai": hooks or self.hooks}, lease_seconds)


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    made = []
    for n in range(2):
        db = Store(database_url).connect()
        if n == 0:
            await db.migrate()
        store, files = BatchStore(engine_of(db)), DatabaseFileStore(engine_of(db))
        made.append(Replica(db, store, files, openai_hooks(files, store.every_result, 1 << 20, RETENTION)))
    try:
        yield made[0], made[1]
    finally:
        for replica in made:
            await replica.db.close()


def engine_of(db: Store) -> Callable[[], AsyncEngine]:
    return lambda: db.db


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def request_line(custom_id: str, model: str = "m") -> dict[str, Any]:
    body = {"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


async def new_batch(replica: Replica, batch_id: str, n: int, **extra: Any) -> str:
    data = b"".join(orjson.dumps(request_line(f"c{i}")) + b"\n" for i in range(n))
    source = await replica.files.put(OWNER, "batch", "in.jsonl", chunks(data))
    now = time.time()
    batch: dict[str, Any] = {
        "id": batch_id, "kind": "openai", "owner": OWNER, "key_id": None, "status": "validating",
        "processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0,
        "created_at": now, "expires_at": now + 86400, "metadata": {},
        "extra": {"input_file_id": source.id, "endpoint": "/v1/chat/completions", "files_owner": OWNER, **extra},
    }  # fmt: skip
    await replica.store.create(batch, [])
    return source.id


async def run_items(replica: Replica, batch_id: str) -> None:
    """Every item leased and finished (one errored), as workers would; the batch is then finalizing."""
    now = time.time()
    for item in await replica.store.lease(100, "l", now, now + 60, "i", "r"):
        state = "errored" if item.position == 0 else "succeeded"
        result = {"type": "api_error", "message": "no", "status": 500} if state == "errored" else message()
        assert await replica.store.finish(item, state, result, now)


def message() -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }  # fmt: skip


async def outputs(replica: Replica) -> set[str]:
    found, _ = await replica.files.list(OWNER, "batch_output", 100, None, "asc")
    return {f.id for f in found}


async def test_two_replicas_validate_a_batch_once(replicas: tuple[Replica, Replica]) -> None:
    one, two = replicas
    await new_batch(one, "batch_v", 6)
    assert await one.store.pending(time.time(), 8) == [("batch_v", "validating")]
    done = await asyncio.gather(one.phases().run("batch_v", "validating"), two.phases().run("batch_v", "validating"))
    assert sorted(done) == [False, True]
    batch = await two.store.get("batch_v")
    assert batch is not None and batch.status == "in_progress" and batch.counts.processing == 6
    assert batch.extra["in_progress_at"] >= int(batch.created_at)
    assert [i["custom_id"] for i in await one.store.items("batch_v")] == [f"c{i}" for i in range(6)]
    assert await one.store.pending(time.time(), 8) == []
    # A batch cancelled while validating ends at once; the validator's commit then finds it gone and adds nothing.
    await new_batch(one, "batch_w", 3)
    now = time.time()
    claimed = await one.store.claim("batch_w", "validating", "mine", now, now + 60)
    assert claimed is not None and await two.store.claim("batch_w", "validating", "theirs", now, now + 60) is None
    await two.store.cancel("batch_w", now)
    assert not await one.store.validated("batch_w", "mine", [], {}, now)
    cancelled = await one.store.get("batch_w")
    assert cancelled is not None and cancelled.status == "ended" and cancelled.cancel_initiated_at == now
    assert await one.store.items("batch_w") == []
    await counts_are_the_batch_rows_not_a_scan_of_its_items(one)


async def test_two_replicas_racing_to_finalize_write_one_pair_of_files(replicas: tuple[Replica, Replica]) -> None:
    one, two = replicas
    await new_batch(one, "batch_f", 5, output_expires_seconds=7200)
    assert await one.phases().run("batch_f", "validating")
    await run_items(two, "batch_f")
    batch = await one.store.get("batch_f")
    assert batch is not None and batch.status == "finalizing" and batch.ended_at is not None
    done = await asyncio.gather(one.phases().run("batch_f", "finalizing"), two.phases().run("batch_f", "finalizing"))
    assert sorted(done) == [False, True]
    batch = await one.store.get("batch_f")
    assert batch is not None and batch.status == "ended"
    recorded = {batch.extra["output_file_id"], batch.extra["error_file_id"]}
    assert await outputs(one) == recorded  # exactly one pair exists
    output = await one.files.get(OWNER, batch.extra["output_file_id"])
    assert output.expires_at == pytest.approx(output.created_at + 7200, abs=2)  # output_expires_after applied
    lines = [orjson.loads(x) for x in b"".join([c async for c in one.files.content(OWNER, output.id)]).splitlines()]
    assert [x["custom_id"] for x in lines] == ["c1", "c2", "c3", "c4"]
    await a_finalizer_whose_claim_passed_removes_its_own_files(one, two)
    await retention_removes_the_output_files_with_the_batch(one)


async def a_finalizer_whose_claim_passed_removes_its_own_files(one: Replica, two: Replica) -> None:
    await new_batch(one, "batch_s", 3)
    assert await one.phases().run("batch_s", "validating")
    await run_items(one, "batch_s")
    finalize = one.hooks.finalize
    assert finalize is not None
    wrote, go_on = asyncio.Event(), asyncio.Event()

    async def slow(info: Any) -> dict[str, Any]:  # writes its files, then stalls until told
        written = await finalize(info)
        wrote.set()
        await go_on.wait()
        return written

    first = one.phases(60, Hooks(slow, slow, one.hooks.discard))
    stalled = asyncio.create_task(first.run("batch_s", "finalizing"))
    await wrote.wait()
    assert await two.phases().run("batch_s", "finalizing") is False  # still held by the first one
    await one.store.renew_claims(sorted(first.held), time.time() - 1)  # as if it had stopped renewing long ago
    assert await two.phases().run("batch_s", "finalizing")  # its claim passed: the second one writes and records
    go_on.set()
    assert await stalled is False  # the first one's commit is refused, and it removed its files
    batch = await one.store.get("batch_s")
    assert batch is not None and await outputs(one) >= {batch.extra["output_file_id"], batch.extra["error_file_id"]}
    assert len(await outputs(one)) == 4  # this batch's pair and the one before's: the first one's were removed


async def retention_removes_the_output_files_with_the_batch(one: Replica) -> None:
    for old in await outputs(one):  # the earlier batches' files, out of the way
        await one.files.delete(OWNER, old)
    input_id = await new_batch(one, "batch_r", 2)
    phases = one.phases()
    assert await phases.run("batch_r", "validating")
    await one.files.delete(OWNER, input_id)  # as on OpenAI: the input file may go once the batch has its items
    await run_items(one, "batch_r")
    assert await phases.run("batch_r", "finalizing")
    batch = await one.store.get("batch_r")
    assert batch is not None and batch.ended_at is not None and len(await outputs(one)) == 2
    output = await one.files.get(OWNER, batch.extra["output_file_id"])
    assert output.expires_at == pytest.approx(batch.ended_at + RETENTION, abs=2)  # the batch's retention, by default
    await one.store.sweep(batch.ended_at + RETENTION - 10, RETENTION, phases.removing)
    assert await one.store.get("batch_r") is not None and len(await outputs(one)) == 2
    await one.store.sweep(batch.ended_at + RETENTION + 1, RETENTION, phases.removing)
    assert await one.store.get("batch_r") is None and await outputs(one) == set()
    with pytest.raises(NotFound):
        await one.files.get(OWNER, batch.extra["output_file_id"])


async def counts_are_the_batch_rows_not_a_scan_of_its_items(one: Replica) -> None:
    await new_batch(one, "batch_c", 40)
    assert await one.phases().run("batch_c", "validating")
    now = time.time()
    taken = await one.store.lease(20, "l", now, now + 60, "i", "r")
    mine = [i for i in taken if i.batch_id == "batch_c"][:7]
    assert len(mine) == 7
    for item in mine:
        assert await one.store.finish(item, "succeeded", message(), now)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = one.db.db.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        batch = await one.store.get("batch_c")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert batch is not None and (batch.counts.processing, batch.counts.succeeded, batch.counts.total) == (33, 7, 40)
    assert len(statements) == 1 and batch_items.name not in statements[0]  # one row read, whatever the batch's size
    states = [i["state"] for i in await one.store.items("batch_c")]
    assert (states.count("succeeded"), len(states) - states.count("succeeded")) == (7, 33)  # and they agree
