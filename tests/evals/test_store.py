"""The eval store on SQLite and PostgreSQL: a run moves on only from the state it was read in, so of two drivers
racing to complete it exactly one writes its graded items; another project's rows are not listed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from basalt.control import Store
from basalt.evals.store import EvalStore
from basalt.evals.tables import eval_runs, evals

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EvalStore]:
    db = Store(database_url).connect()
    await db.migrate()
    try:
        yield EvalStore(lambda: db.db)
    finally:
        await db.close()


async def add(store: EvalStore, eval_id: str, run_id: str, owner: str, n: int) -> None:
    now = time.time()
    await store.add_eval({"id": eval_id, "owner": owner, "name": "e", "data_source_config": {}, "testing_criteria": [],
                          "metadata": {}, "created_at": now})  # fmt: skip
    run: dict[str, Any] = {"id": run_id, "eval_id": eval_id, "owner": owner, "key_id": None, "name": "r", "model": "m",
                           "status": "in_progress", "stage": "sampling", "sample_batch": None, "judge_batch": None,
                           "items": n, "data_source": {}, "metadata": {}, "created_at": now}  # fmt: skip
    items = [{"run_id": run_id, "position": i, "item": {"item": {"i": i}}, "status": "pending", "created_at": now}
             for i in range(n)]  # fmt: skip
    await store.add_run(run, items)


async def test_one_of_two_racing_drivers_completes_a_run(store: EvalStore) -> None:
    await add(store, "eval_a", "evalrun_a", "p1", 1500)

    def graded(status: str) -> list[dict[str, Any]]:
        return [{"position": i, "status": status, "sample": {"by": status}, "results": [{"score": 1}]}
                for i in range(1500)]  # fmt: skip

    done = await asyncio.gather(
        store.complete("evalrun_a", {"status": "completed", "stage": "done"}, graded("pass")),
        store.complete("evalrun_a", {"status": "completed", "stage": "done"}, graded("fail")),
    )
    assert sorted(done) == [False, True]
    rows, more = await store.output_items("evalrun_a", 2000, None, True, None)
    assert len(rows) == 1500 and not more and len({r["status"] for r in rows}) == 1  # all from the one winner
    assert [r["position"] for r in rows] == list(range(1500))
    assert not await store.complete("evalrun_a", {"status": "completed"}, graded("pass"))
    assert await store.move("evalrun_a", {"status": "completed", "stage": "done"}, {"name": "renamed"})
    assert not await store.move("evalrun_a", {"status": "in_progress"}, {"status": "canceled"})
    page, _ = await store.output_items("evalrun_a", 10, 1495, True, None)
    assert [r["position"] for r in page] == [1496, 1497, 1498, 1499]


async def test_pages_are_per_owner_and_deleting_an_eval_takes_its_runs(store: EvalStore) -> None:
    await add(store, "eval_a", "evalrun_a", "p1", 2)
    await add(store, "eval_b", "evalrun_b", "p2", 2)
    mine, more = await store.page(evals, [evals.c.owner == "p1"], 10, None, True)
    assert [e["id"] for e in mine] == ["eval_a"] and not more
    await store.delete_eval("eval_a")
    assert await store.eval("eval_a") is None and await store.run("evalrun_a") is None
    assert await store.source_items("evalrun_a") == []
    left, _ = await store.page(eval_runs, [], 10, None, True)
    assert [r["id"] for r in left] == ["evalrun_b"]
