"""/metrics of a real `basalt serve` after known traffic: two streams, one non-streaming call, one 429, one guardrail
block and one upstream fallback (plus plain calls from a second key, so that two workers both serve some), parsed
with prometheus-client's own parser; one worker and two workers give the same totals."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from basalt.app import create_app
from basalt.config import Settings
from basalt.wiring import Platform

from ..control.conftest import REDIS
from ..control.servers import Server
from ..fakes.upstream import fake_upstream

EXTRA = 12  # plain calls from an unlimited key, sent 6 at a time (in rounds, until both of two workers served some)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def config(up: str, down: str, home: Path, workers: int) -> dict[str, Any]:
    return {
        "serve_local": False,
        "workers": workers,
        "deployments": [
            {"name": "m", "provider": "openai", "model": "up", "base_url": up},
            # The failing deployment is all but always tried first; with no retries it falls back at once.
            {"name": "fb", "provider": "openai", "model": "down", "base_url": down, "weight": 10**12},
            {"name": "fb", "provider": "openai", "model": "up", "base_url": up},
        ],
        "router": {"retries": 0, "backoff": 0, "cooldown": 60},
        "guardrails": [{"name": "block", "version": 1, "words": {"words": ["project zeus"], "action": "BLOCK"}}],
        "model_guardrails": {"m": "block:1"},
        # Redis: the key's rpm is one count however many workers admit its calls.
        "control": {"auth": True, "database": f"sqlite+aiosqlite:///{home / 'basalt.db'}", "redis": REDIS},
    }


@pytest.fixture
def upstreams() -> Iterator[tuple[str, str]]:
    with fake_upstream() as (up, _), fake_upstream() as (down, failing):
        failing.actions = ["500"] * 100
        yield up, down


def admin(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    key = (server.home / "admin-key").read_text().strip()
    response = httpx.post(server.url + path, json=body, headers={"x-api-key": key}, timeout=30)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def ask(text: str = "Hi") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def traffic(server: Server, workers: int) -> int:
    """Sends the known calls; returns how many extra plain calls it sent."""
    admin(server, "/admin/projects", {"name": "p"})
    limited = admin(server, "/admin/keys", {"name": "limited", "project": "p", "rpm": 5})["key"]
    free = admin(server, "/admin/keys", {"name": "free", "project": "p"})["key"]
    anthropic = {"x-api-key": limited}
    openai = {"authorization": f"Bearer {limited}"}
    base = {"model": "m", "max_tokens": 20}

    def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        return httpx.post(server.url + path, json=body, headers=headers, timeout=30)

    streamed = post("/v1/messages", {**base, "messages": ask(), "stream": True}, anthropic)
    assert streamed.status_code == 200 and "message_stop" in streamed.text
    streamed = post("/v1/chat/completions", {**base, "messages": ask(), "stream": True}, openai)
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    whole = post("/v1/messages", {**base, "messages": ask()}, anthropic)
    assert whole.json()["content"][0]["text"] == "Hello from the fake upstream."
    blocked = post("/v1/messages", {**base, "messages": ask("Tell me about project zeus")}, anthropic)
    assert blocked.status_code == 200 and blocked.json()["stop_reason"] == "refusal"
    fallback = post("/v1/messages", {**base, "model": "fb", "messages": ask()}, anthropic)
    assert fallback.status_code == 200, fallback.text
    refused = post("/v1/messages", {**base, "messages": ask()}, anthropic)
    assert refused.status_code == 429
    sent = 0
    while sent == 0 or (len(workers_calls(scrape(server))) < workers and sent < 10 * EXTRA):
        with ThreadPoolExecutor(6) as pool:
            codes = list(
                pool.map(
                    lambda _: post("/v1/messages", {**base, "messages": ask()}, {"x-api-key": free}).status_code,
                    range(EXTRA),
                )
            )
        assert codes == [200] * EXTRA
        sent += EXTRA
    return sent


def workers_calls(samples: Samples) -> dict[str, float]:
    """Calls seen by each worker that saw any, by pid (one worker: no pid label)."""
    calls = {dict(labels).get("pid", ""): v for (name, labels), v in samples.items() if name == "basalt_worker_calls"}
    return {pid: v for pid, v in calls.items() if v > 0}


def scrape(server: Server) -> Samples:
    response = httpx.get(server.url + "/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def check_totals(samples: Samples, up: str, down: str, extra: int) -> None:
    ok, failed = f"openai:up@{up}", f"openai:down@{down}"
    requests = "basalt_requests_total"
    messages = {"route": "/v1/messages", "dialect": "anthropic"}
    assert value(samples, requests, **messages, model="m", deployment=ok, status="200") == 2 + extra
    assert value(samples, requests, **messages, model="m", deployment="", status="200") == 1  # the guardrail's block
    assert value(samples, requests, **messages, model="m", deployment="", status="429") == 1
    assert value(samples, requests, **messages, model="fb", deployment=ok, status="200") == 1
    chat = {"route": "/v1/chat/completions", "dialect": "openai"}
    assert value(samples, requests, **chat, model="m", deployment=ok, status="200") == 1
    generation = [
        v for (name, labels), v in samples.items() if name == requests and dict(labels)["route"].startswith("/v1/")
    ]
    assert sum(generation) == 6 + extra

    m = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": "m"}
    fb = {**m, "gen_ai_request_model": "fb"}
    guarded = {**m, "gen_ai_provider_name": ""}  # answered by the guardrail, no provider
    duration = "gen_ai_server_request_duration_seconds_count"
    assert value(samples, duration, **m, error_type="") == 3 + extra
    assert value(samples, duration, **fb, error_type="") == 1
    assert value(samples, duration, **guarded, error_type="") == 1
    assert value(samples, duration, **guarded, error_type="rate_limit_error") == 1
    assert value(samples, "gen_ai_server_request_duration_seconds_bucket", **m, error_type="", le="+Inf") == 3 + extra
    assert value(samples, "gen_ai_server_time_to_first_token_seconds_count", **m) == 3 + extra
    assert value(samples, "gen_ai_server_time_to_first_token_seconds_count", **guarded) == 1
    assert value(samples, "gen_ai_server_time_per_output_token_seconds_count", **m) == 3 + extra
    assert value(samples, "gen_ai_server_time_per_output_token_seconds_count", **guarded) == 0  # no output tokens
    tokens = "gen_ai_client_token_usage"
    assert value(samples, f"{tokens}_count", **m, gen_ai_token_type="input") == 3 + extra
    assert value(samples, f"{tokens}_sum", **m, gen_ai_token_type="input") == 7 * (3 + extra)  # the fake's usage
    assert value(samples, f"{tokens}_sum", **m, gen_ai_token_type="output") == 6 * (3 + extra)
    assert value(samples, f"{tokens}_bucket", **m, gen_ai_token_type="output", le="4.0") == 0
    assert value(samples, f"{tokens}_bucket", **m, gen_ai_token_type="output", le="16.0") == 3 + extra
    assert value(samples, f"{tokens}_count", **fb, gen_ai_token_type="output") == 1
    assert value(samples, f"{tokens}_count", **m, gen_ai_token_type="cache_read") == 0  # none reported

    assert value(samples, "basalt_upstream_attempts_total", deployment=ok, error_type="") == 4 + extra
    assert value(samples, "basalt_upstream_attempts_total", deployment=failed, error_type="api_error") == 1
    assert value(samples, "basalt_upstream_fallbacks_total", deployment=failed) == 1
    assert value(samples, "basalt_upstream_cooldowns_total", deployment=failed) == 1
    assert value(samples, "basalt_upstream_retries_total", deployment=failed) == 0
    assert value(samples, "basalt_limit_rejections_total", limit="rpm", owner="key") == 1
    block = {"guardrail": "block", "version": "1", "stage": "input", "action": "INTERVENED", "policy": "wordPolicy"}
    assert value(samples, "basalt_guardrail_interventions_total", **block) == 1
    interventions = [v for (name, _), v in samples.items() if name == "basalt_guardrail_interventions_total"]
    assert sum(interventions) == 1
    assert value(samples, "basalt_ledger_dead_lettered_rows_total") == 0


def served(
    tmp_path: Path, workers: int, up: str, down: str, then: Callable[[Server], None] | None = None
) -> tuple[Samples, int]:
    server = Server(tmp_path, config(up, down, tmp_path, workers)).start(timeout=60 * workers)  # a busy machine
    try:
        deadline = time.monotonic() + 60
        while len(started(scrape(server))) < workers:  # /health answered from the first worker up
            assert time.monotonic() < deadline, "the workers did not all start"
            time.sleep(0.2)
        extra = traffic(server, workers)
        samples = scrape(server)
        if then is not None:
            then(server)
    finally:
        server.stop()
    ledger(tmp_path / "basalt.db", workers, extra)
    return samples, extra


def ledger(database: Path, workers: int, extra: int) -> None:
    """Every admitted call has its settled row (the 429 was never admitted), written by as many runs as workers
    served (each worker is its own journal run)."""
    with sqlite3.connect(database) as db:
        statuses = dict(db.execute("SELECT status, count(*) FROM usage GROUP BY status").fetchall())
        runs = db.execute("SELECT count(DISTINCT run) FROM usage").fetchone()[0]
    assert statuses == {"ok": 5 + extra}
    assert runs == workers


def started(samples: Samples) -> set[str]:
    return {dict(labels).get("pid", "") for (name, labels), _ in samples.items() if name == "basalt_worker_calls"}


def test_metrics_count_known_traffic_exactly(tmp_path: Path, upstreams: tuple[str, str]) -> None:
    up, down = upstreams
    samples, extra = served(tmp_path, 1, up, down)
    assert extra == EXTRA
    check_totals(samples, up, down, extra)
    assert value(samples, "basalt_worker_calls") == 6 + extra
    assert value(samples, "basalt_ledger_unflushed_rows") >= 0


def test_two_workers_add_up_to_the_same_totals(tmp_path: Path, upstreams: tuple[str, str]) -> None:
    up, down = upstreams
    after: list[Samples] = []

    def kill_a_worker(server: Server) -> None:
        """A worker killed (uvicorn starts another): its live gauges leave the sums, its counts stay in them."""
        killed = min(workers_calls(scrape(server)))
        os.kill(int(killed), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while killed in (pids := started(scrape(server))) or len(pids) < 2:
            assert time.monotonic() < deadline, pids
            time.sleep(0.2)
        after.append(scrape(server))

    samples, extra = served(tmp_path, 2, up, down, kill_a_worker)
    check_totals(samples, up, down, extra)
    per_worker = workers_calls(samples)
    assert len(per_worker) == 2, per_worker  # both served some
    assert sum(per_worker.values()) == 6 + extra
    assert all(int(pid) != os.getpid() for pid in per_worker)
    [later] = after
    check_totals(later, up, down, extra)
    assert workers_calls(later) == {pid: n for pid, n in per_worker.items() if pid != min(per_worker)}


def test_metrics_off_is_a_404_and_no_observer(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"home": tmp_path, "serve_local": False, "observability": {"metrics": {"enabled": False}}}
    )
    platform = Platform(settings)
    assert platform.metrics is None and platform.observers.observers == []
    with TestClient(create_app(settings, platform), base_url="http://localhost") as client:
        assert client.get("/metrics").status_code == 404
