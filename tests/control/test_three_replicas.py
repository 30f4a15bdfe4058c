"""Three `basalt serve` gateway replicas on one PostgreSQL and one Redis, as docs/scale-out.md deploys them behind a
load balancer: a rate limit, a budget, a revocation and a batch's item leases hold across all three."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest

from ..batches.test_durability import exactly_once, stored
from ..fakes.upstream import Script, fake_upstream
from .conftest import PG, REDIS, psql
from .servers import Server
from .test_replicas import admin, status

BATCHES = {"concurrency": 8, "lease_seconds": 2, "poll_seconds": 0.1, "sweep_seconds": 1}
PRICES = {"m": {"input": 3.0, "output": 15.0}}  # a call (7 in, 6 out): $0.000111; its reservation: ~$0.00015


def config(upstream: str, database: str) -> dict[str, Any]:
    return {
        "serve_local": False,
        "deployments": [{"name": "m", "provider": "openai", "model": "up", "base_url": upstream}],
        "control": {"auth": True, "database": database, "redis": REDIS, "key_cache_seconds": 0.2},
        "prices": PRICES,
        "batches": BATCHES,
    }


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Server], Script, str]]:
    name = f"basalt_{secrets.token_hex(6)}"
    psql(f"CREATE DATABASE {name}")
    home = tmp_path_factory.mktemp("three")  # one home: the replicas share the admin key the first bootstrapped
    servers: list[Server] = []
    try:
        with fake_upstream() as (url, script):
            servers.append(Server(home, config(url, PG.format(name))).start())
            servers += [Server(home, config(url, PG.format(name))).start() for _ in range(2)]
            yield servers, script, PG.format(name)
    finally:
        for server in servers:
            server.stop()
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def project_key(server: Server, project: dict[str, Any]) -> dict[str, Any]:
    assert admin(server, "POST", "/admin/projects", json=project).status_code == 201
    created = admin(server, "POST", "/admin/keys", json={"name": f"k-{project['name']}", "project": project["name"]})
    return dict(created.json())


def test_one_rate_limit_across_three_replicas(gateways: tuple[list[Server], Script, str]) -> None:
    servers, script, _ = gateways
    key = project_key(servers[0], {"name": "rpm", "rpm": 40})["key"]
    sent = len(script.requests)
    start = time.monotonic()
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda i: status(servers[i % 3], key), range(80)))
    refill = int((time.monotonic() - start) * 40 / 60) + 1  # the bucket refills at 40 a minute while it runs
    assert set(codes) == {200, 429}
    assert 40 <= codes.count(200) <= 40 + refill, codes.count(200)
    assert len(script.requests) - sent == codes.count(200)  # what was refused never went upstream


def test_one_budget_across_three_replicas(gateways: tuple[list[Server], Script, str]) -> None:
    servers, _, _ = gateways
    key = project_key(servers[0], {"name": "usd", "daily_budget_usd": 0.001})["key"]
    # One call at a time, each replica in turn: after 8 calls ($0.000888 spent) the next reservation passes $0.001,
    # and every replica knows it (the spend is counted in Redis), not only the one that settled the last call.
    codes = [status(servers[n % 3], key) for n in range(9)]
    assert codes == [200] * 8 + [402], codes
    assert [status(server, key) for server in servers] == [402, 402, 402]


def test_a_revocation_on_one_replica_reaches_the_other_two(gateways: tuple[list[Server], Script, str]) -> None:
    servers, _, _ = gateways
    created = project_key(servers[0], {"name": "revoke"})
    assert [status(server, created["key"]) for server in servers] == [200, 200, 200]  # each has it cached now
    assert admin(servers[1], "DELETE", f"/admin/keys/{created['id']}").status_code == 200
    time.sleep(0.3)  # key_cache_seconds
    assert [status(server, created["key"]) for server in servers] == [401, 401, 401]


def test_three_replicas_lease_one_batch_each_item_once(gateways: tuple[list[Server], Script, str]) -> None:
    servers, script, database = gateways
    key = project_key(servers[0], {"name": "batch"})["key"]
    script.actions = ["slow:0.05"] * 90  # each answer takes a moment, so every replica's workers find items left
    sent = len(script.requests)
    client = anthropic.Anthropic(base_url=servers[0].url, api_key=key, max_retries=0)
    ask = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    batch = client.messages.batches.create(requests=[{"custom_id": f"i{i}", "params": ask} for i in range(90)])  # type: ignore[list-item]
    reader = anthropic.Anthropic(base_url=servers[2].url, api_key=key, max_retries=0)
    deadline = time.monotonic() + 60
    while reader.messages.batches.retrieve(batch.id).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert reader.messages.batches.retrieve(batch.id).request_counts.succeeded == 90
    # Each replica's ledger writer settles its rows in the background (the servers still run: nothing forced a
    # flush), so the last items' rows may read `reserved` for a moment after the batch ended.
    deadline = time.monotonic() + 15
    while True:
        items, rows = stored(database, batch.id)
        if all(r["status"] != "reserved" for r in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    exactly_once(items, rows, 90)
    host = socket.gethostname()
    assert {i["instance"] for i in items} == {f"{host}:{s.port}" for s in servers}  # all three worked on it
    assert {i["attempts"] for i in items} == {1} and len(script.requests) - sent == 90  # none ran twice
