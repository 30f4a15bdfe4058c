"""Batch items are admitted like calls: tenants see only their own batches, the routes need the `batches` scope, a
project over budget gets each item errored with the billing error, batch items pay the price's batch share, and a
key revoked before its items ran makes them fail authentication. A real `basalt serve` with auth on, over a fake
OpenAI-compatible upstream."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import pytest

from ..control.servers import Server
from ..fakes.upstream import fake_upstream

ASK: Any = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
PRICE = {"input": 1.0, "output": 2.0, "batch": 0.5}  # USD per million tokens; batches at half price


def config(upstream: str, home: Path, workers: bool = True) -> dict[str, Any]:
    return {
        "serve_local": False,
        "deployments": [{"name": "m", "provider": "openai", "model": "up", "base_url": upstream}],
        "control": {"auth": True, "database": f"sqlite+aiosqlite:///{home / 'basalt.db'}", "key_cache_seconds": 0},
        "prices": {"m": PRICE},
        "batches": {"enabled": workers, "poll_seconds": 0.1, "sweep_seconds": 1},
    }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    with fake_upstream() as (url, _):
        server = Server(tmp_path, config(url, tmp_path)).start()
        try:
            yield server, url
        finally:
            server.stop()


def admin(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    key = (server.home / "admin-key").read_text().strip()
    answer = httpx.request(method, server.url + path, headers={"x-api-key": key}, timeout=30, **kwargs)
    assert answer.status_code < 300, answer.text
    return answer


def key(server: Server, project: str, **limits: Any) -> str:
    admin(server, "POST", "/admin/projects", json={"name": project, **limits})
    return str(admin(server, "POST", "/admin/keys", json={"name": project, "project": project}).json()["key"])


def client(server: Server, api_key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=api_key, max_retries=0)


def ended(c: anthropic.Anthropic, batch_id: str) -> Any:
    deadline = time.monotonic() + 60
    while (batch := c.messages.batches.retrieve(batch_id)).processing_status != "ended":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return batch


def test_tenants_scopes_budgets_and_batch_prices(setup: tuple[Server, str]) -> None:
    server, _ = setup
    mine, theirs = client(server, key(server, "mine")), client(server, key(server, "broke", daily_budget_usd=0))
    batch = mine.messages.batches.create(requests=[{"custom_id": f"a{i}", "params": ASK} for i in range(2)])
    assert ended(mine, batch.id).request_counts.succeeded == 2
    with pytest.raises(anthropic.NotFoundError):
        theirs.messages.batches.retrieve(batch.id)
    assert batch.id not in [b.id for b in theirs.messages.batches.list()]
    assert batch.id in [b.id for b in mine.messages.batches.list()]

    refused = theirs.messages.batches.create(requests=[{"custom_id": f"b{i}", "params": ASK} for i in range(2)])
    counts = ended(theirs, refused.id).request_counts
    assert (counts.errored, counts.succeeded) == (2, 0)
    for line in theirs.messages.batches.results(refused.id):
        assert line.result.type == "errored" and line.result.error.error.type == "billing_error"

    single = mine.messages.create(**ASK)
    rows = admin(server, "GET", "/admin/usage", params={"records": "1", "limit": "100"}).json()["data"]
    costs = {r["batch_id"]: r["cost_usd"] for r in rows if r["status"] == "ok"}
    full = (single.usage.input_tokens * PRICE["input"] + single.usage.output_tokens * PRICE["output"]) / 1e6
    assert costs[None] == pytest.approx(full) and costs[batch.id] == pytest.approx(full / 2)

    messages_only = admin(
        server, "POST", "/admin/keys", json={"name": "narrow", "project": "mine", "endpoints": ["messages"]}
    ).json()["key"]
    with pytest.raises(anthropic.PermissionDeniedError, match="batches"):
        client(server, messages_only).messages.batches.create(requests=[{"custom_id": "c", "params": ASK}])


def test_items_of_a_key_revoked_before_they_ran_fail_authentication(tmp_path: Path) -> None:
    with fake_upstream() as (url, script):
        idle = Server(tmp_path, config(url, tmp_path, workers=False)).start()  # takes batches, runs no items
        try:
            api_key = key(idle, "p")
            batch = client(idle, api_key).messages.batches.create(requests=[{"custom_id": "x", "params": ASK}])
            key_id = "key_" + api_key.split("_")[1]
            admin(idle, "POST", f"/admin/keys/{key_id}/revoke")
        finally:
            idle.stop()
        server = Server(tmp_path, config(url, tmp_path), port=idle.port).start()
        try:
            admin_client = client(server, (tmp_path / "admin-key").read_text().strip())
            assert ended(admin_client, batch.id).request_counts.errored == 1  # an admin sees every batch
            [line] = list(admin_client.messages.batches.results(batch.id))
            assert line.result.type == "errored" and line.result.error.error.type == "authentication_error"
            assert "revoked" in line.result.error.error.message and script.requests == []
        finally:
            server.stop()
