"""Several `basalt serve` processes sharing PostgreSQL and Redis, and a server killed mid-stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import pytest

from ..fakes.upstream import Script, fake_upstream
from .conftest import REDIS
from .servers import Server

ASK = [{"role": "user", "content": "Hi"}]


def config(upstream: str, database: str, redis: str | None) -> dict[str, Any]:
    return {
        "serve_local": False,
        "deployments": [{"name": "m", "provider": "openai", "model": "up", "base_url": upstream}],
        "control": {"auth": True, "database": database, "redis": redis, "key_cache_seconds": 0.2},
    }


def admin(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    key = (server.home / "admin-key").read_text().strip()
    return httpx.request(method, server.url + path, headers={"x-api-key": key}, timeout=30, **kwargs)


def status(server: Server, key: str) -> int:
    body = {"model": "m", "max_tokens": 10, "messages": ASK}
    return httpx.post(server.url + "/v1/messages", json=body, headers={"x-api-key": key}, timeout=30).status_code


@pytest.fixture
def replicas(tmp_path: Path, pg_url: str) -> Iterator[tuple[Server, Server, Script]]:
    with fake_upstream() as (url, script):
        home = tmp_path  # one home: the second replica reads the admin key the first bootstrapped
        a = Server(home, config(url, pg_url, REDIS)).start()
        b = Server(home, config(url, pg_url, REDIS)).start()
        try:
            yield a, b, script
        finally:
            a.stop()
            b.stop()


def test_revocation_reaches_every_replica(replicas: tuple[Server, Server, Script]) -> None:
    a, b, _ = replicas
    assert admin(a, "POST", "/admin/projects", json={"name": "p"}).status_code == 201
    created = admin(a, "POST", "/admin/keys", json={"name": "k", "project": "p"}).json()
    assert status(a, created["key"]) == 200 and status(b, created["key"]) == 200  # b has it cached now
    assert admin(a, "DELETE", f"/admin/keys/{created['id']}").status_code == 200
    time.sleep(0.3)  # key_cache_seconds
    assert status(a, created["key"]) == 401 and status(b, created["key"]) == 401


def test_two_replicas_share_one_rate_limit(replicas: tuple[Server, Server, Script]) -> None:
    a, b, script = replicas
    admin(a, "POST", "/admin/projects", json={"name": "p", "rpm": 100})
    key = admin(a, "POST", "/admin/keys", json={"name": "k", "project": "p"}).json()["key"]
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: status((a, b)[i % 2], key), range(200)))
    elapsed = time.monotonic() - start
    refill = int(elapsed * 100 / 60) + 1  # the bucket refills at 100 a minute while the test runs
    assert set(codes) == {200, 429}
    assert 100 <= codes.count(200) <= 100 + refill, (codes.count(200), elapsed)
    assert len(script.requests) == codes.count(200)


def test_sigkill_mid_stream_loses_no_request(tmp_path: Path) -> None:
    with fake_upstream() as (url, script):
        settings = config(url, f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", None)
        server = Server(tmp_path, settings).start()
        admin(server, "POST", "/admin/projects", json={"name": "p"})
        key = admin(server, "POST", "/admin/keys", json={"name": "k", "project": "p"}).json()["key"]
        script.actions = ["endless"] * 20
        streaming = threading.Barrier(21)
        errors: list[BaseException] = []

        def stream() -> None:
            client = anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0)
            try:
                with client.messages.stream(model="m", max_tokens=4000, messages=ASK) as events:
                    for n, _ in enumerate(events):
                        if n == 3:
                            streaming.wait(timeout=30)
            except BaseException as exc:  # the connection dies with the server
                errors.append(exc)

        threads = [threading.Thread(target=stream) for _ in range(20)]
        for t in threads:
            t.start()
        streaming.wait(timeout=30)
        time.sleep(1.5)  # long enough for a progress checkpoint of the output so far
        server.kill()
        for t in threads:
            t.join(timeout=30)
        assert len(errors) == 20  # every stream was cut, none finished

        restarted = Server(tmp_path, settings, port=server.port).start()  # same host and port: same instance
        try:
            records = admin(restarted, "GET", "/v1/usage", params={"records": "1", "limit": "100"}).json()["data"]
            streams = [r for r in records if r["endpoint"] == "messages"]
            assert len(streams) == 20
            assert {r["status"] for r in streams} == {"interrupted"}
            assert all(r["output_tokens"] > 0 and r["input_tokens"] > 0 for r in streams)
        finally:
            restarted.stop()


def test_a_guardrail_defined_on_one_replica_is_used_by_the_other(replicas: tuple[Server, Server, Script]) -> None:
    a, b, script = replicas
    admin(a, "POST", "/admin/projects", json={"name": "p"})
    key = admin(a, "POST", "/admin/keys", json={"name": "k", "project": "p"}).json()["key"]
    b_missed = guarded(b, key, "h:1", "Hi")  # b looks h:1 up now and remembers the miss for key_cache_seconds
    assert b_missed.status_code == 400 and "'h' version '1' is not defined" in b_missed.text
    definition = {"name": "g", "version": 1, "words": {"words": ["zeus"]}}
    assert admin(a, "POST", "/admin/guardrails", json=definition).status_code == 201
    assert admin(a, "POST", "/admin/guardrails", json={**definition, "name": "h"}).status_code == 201

    sent = len(script.requests)
    ok, blocked = guarded(b, key, "g:1", "Hi"), guarded(b, key, "g:1", "Tell me about Zeus")
    assert ok.status_code == 200 and blocked.status_code == 200, (ok.text, blocked.text)
    assert blocked.json()["content"][0]["text"] == "Sorry, the model cannot answer this question."
    assert len(script.requests) == sent + 1  # the blocked one never went upstream
    time.sleep(0.3)  # key_cache_seconds: the miss b remembered is forgotten
    assert guarded(b, key, "h:1", "Hi").status_code == 200
    apply = {"source": "INPUT", "content": [{"text": {"text": "zeus"}}]}
    applied = httpx.post(f"{b.url}/v1/guardrails/g/versions/1/apply", json=apply, headers={"x-api-key": key})
    assert applied.status_code == 200 and applied.json()["action"] == "GUARDRAIL_INTERVENED"
    assert admin(b, "POST", "/admin/projects", json={"name": "q", "guardrail": "g:1"}).status_code == 201
    assert {g["name"] for g in admin(b, "GET", "/admin/guardrails").json()["data"]} == {"g", "h"}


def test_defining_a_guardrail_again_on_another_replica_is_a_no_op_or_a_409(
    replicas: tuple[Server, Server, Script],
) -> None:
    """Before, b registered the definition in memory, then failed to store it: a 500, and b used the new one."""
    a, b, _ = replicas
    definition = {"name": "g", "version": 1, "words": {"words": ["zeus"]}}
    assert admin(a, "POST", "/admin/guardrails", json=definition).status_code == 201
    again = admin(b, "POST", "/admin/guardrails", json=definition)
    assert again.status_code == 200 and again.json()["words"]["words"] == ["zeus"]
    other = {**definition, "words": {"words": ["hera"]}}
    for server in (b, a):
        conflict = admin(server, "POST", "/admin/guardrails", json=other)
        assert conflict.status_code == 409, conflict.text
        assert conflict.json()["error"]["type"] == "invalid_request_error"
        assert "defined already, differently" in conflict.json()["error"]["message"]
    apply = {"source": "INPUT", "content": [{"text": {"text": "hera and zeus"}}]}
    for server in (a, b):  # both still use the definition stored first
        checked = admin(server, "POST", "/v1/guardrails/g/versions/1/apply", json={**apply, "outputScope": "FULL"})
        words = checked.json()["assessments"][0]["wordPolicy"]["customWords"]
        assert [w["match"] for w in words] == ["zeus"], words


def guarded(server: Server, key: str, ref: str, text: str) -> httpx.Response:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": text}]}
    headers = {"x-api-key": key, "basalt-guardrail": ref}
    return httpx.post(server.url + "/v1/messages", json=body, headers=headers, timeout=30)
