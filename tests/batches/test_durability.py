"""Batches survive SIGKILL and share work across replicas: every item ends with exactly one result and one ledger
row. A real `basalt serve` (SQLite; two of them on PostgreSQL) over a fake OpenAI-compatible upstream, so that the
timing is the server's, not the model's."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from basalt.batches.tables import batch_items
from basalt.control.schema import usage

from ..control.servers import Server
from ..fakes.upstream import Script, fake_upstream

BATCHES = {"concurrency": 8, "lease_seconds": 2, "poll_seconds": 0.1, "sweep_seconds": 1}


def config(upstream: str, database: str) -> dict[str, Any]:
    return {
        "serve_local": False,
        "deployments": [{"name": "m", "provider": "openai", "model": "up", "base_url": upstream}],
        "control": {"database": database},
        "batches": BATCHES,
    }


@pytest.fixture
def upstream() -> Iterator[tuple[str, Script]]:
    with fake_upstream() as (url, script):
        script.actions = ["slow:0.05"] * 10_000  # each answer takes a moment, so a kill finds items running
        yield url, script


def submit(server: Server, n: int) -> str:
    client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
    ask = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    requests = [{"custom_id": f"i{i}", "params": ask} for i in range(n)]
    return client.messages.batches.create(requests=requests).id  # type: ignore[arg-type]


def counts(server: Server, batch_id: str) -> Any:
    client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
    return client.messages.batches.retrieve(batch_id)


def wait_ended(server: Server, batch_id: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while (batch := counts(server, batch_id)).processing_status != "ended":
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)
    return batch


def results(server: Server, batch_id: str) -> list[Any]:
    client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
    return list(client.messages.batches.results(batch_id))


def stored(url: str, batch_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The batch's items and its ledger rows, read from the database itself."""

    async def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                items = (await conn.execute(select(batch_items).where(batch_items.c.batch_id == batch_id))).all()
                rows = (await conn.execute(select(usage).where(usage.c.batch_id == batch_id))).all()
        finally:
            await engine.dispose()
        return [dict(r._mapping) for r in items], [dict(r._mapping) for r in rows]

    return asyncio.run(read())


def exactly_once(items: list[dict[str, Any]], rows: list[dict[str, Any]], n: int) -> None:
    assert len(items) == n and {i["state"] for i in items} == {"succeeded"}
    assert sorted(r["request_id"] for r in rows) == sorted(i["request_id"] for i in items)  # one row per item
    assert {r["status"] for r in rows} == {"ok"}, Counter(r["status"] for r in rows)


def test_sigkill_mid_batch_loses_nothing_and_runs_nothing_twice(tmp_path: Path, upstream: tuple[str, Script]) -> None:
    url, script = upstream
    database = f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}"
    server = Server(tmp_path, config(url, database)).start()
    try:
        batch_id = submit(server, 200)
        deadline = time.monotonic() + 60
        while counts(server, batch_id).request_counts.succeeded < 40:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.kill()  # SIGKILL with items leased and calls in flight
        done_before = {i["position"] for i in stored(database, batch_id)[0] if i["state"] == "succeeded"}
        assert 40 <= len(done_before) < 200
        server.start()  # same home, port and database
        ended = wait_ended(server, batch_id)
        assert ended.request_counts.succeeded == 200 and ended.request_counts.processing == 0
        lines = results(server, batch_id)
        assert sorted(r.custom_id for r in lines) == sorted(f"i{i}" for i in range(200))
        assert {r.result.type for r in lines} == {"succeeded"}
    finally:
        server.stop()
    items, rows = stored(database, batch_id)
    exactly_once(items, rows, 200)
    rerun = [i for i in items if i["attempts"] > 1]
    assert rerun, "the kill left no leased item to run again"
    assert all(i["attempts"] == 1 for i in items if i["position"] in done_before)  # a result is never run again
    assert len(script.requests) <= 200 + len(rerun)


def test_two_replicas_share_one_batch(tmp_path: Path, pg_url: str, upstream: tuple[str, Script]) -> None:
    url, script = upstream
    a = Server(tmp_path, config(url, pg_url)).start()
    b = Server(tmp_path, config(url, pg_url)).start()
    try:
        batch_id = submit(a, 120)
        ended = wait_ended(b, batch_id)  # either replica answers for it
        assert ended.request_counts.succeeded == 120
        assert len(results(b, batch_id)) == 120
    finally:
        a.stop()
        b.stop()
    items, rows = stored(pg_url, batch_id)
    exactly_once(items, rows, 120)
    instances = {i["instance"] for i in items}
    host = socket.gethostname()
    assert instances == {f"{host}:{a.port}", f"{host}:{b.port}"}, instances  # both replicas worked
    assert {i["attempts"] for i in items} == {1} and len(script.requests) == 120  # no item ran twice


def test_a_rate_limited_item_waits_and_runs_again_on_its_one_ledger_row(
    tmp_path: Path, upstream: tuple[str, Script]
) -> None:
    url, script = upstream
    script.actions = ["429"]  # the first call is told to come back in a second; the rest answer at once
    database = f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}"
    server = Server(tmp_path, {**config(url, database), "router": {"retries": 0}}).start()
    try:
        batch_id = submit(server, 1)
        assert wait_ended(server, batch_id).request_counts.succeeded == 1  # it waited; it did not fail
    finally:
        server.stop()
    items, rows = stored(database, batch_id)
    exactly_once(items, rows, 1)
    assert items[0]["attempts"] == 2 and len(script.requests) == 2
