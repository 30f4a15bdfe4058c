"""A client that leaves before its answer's first event, against a real server (uvicorn on a port) over a scripted
upstream: the upstream call is closed at once, nothing is retried after, and the ledger row is settled `cancelled`
with its concurrency lease released, in both dialects, streamed or not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from basalt.app import create_app
from basalt.config import ControlSettings, Deployment, RouterSettings, Settings

from .fakes.upstream import Script, fake_upstream, serving

CLIENTS = 4
LEAVE_AFTER = 0.5
UPSTREAM_TIMEOUT = 8.0  # what the calls would have held on for, had nobody closed them
ROUTES = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


@dataclass
class Server:
    url: str
    upstream: Script
    key: str
    admin_key: str

    def usage_records(self) -> list[dict[str, Any]]:
        response = httpx.get(
            self.url + "/admin/usage", params={"records": "1"}, headers={"x-api-key": self.admin_key}, timeout=10
        )
        assert response.status_code == 200, response.text
        return list(response.json()["data"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with fake_upstream() as (upstream_url, script):
        settings = Settings(
            home=tmp_path,
            serve_local=False,
            deployments=[
                Deployment(name="m", provider="openai", model="up", base_url=upstream_url, timeout=UPSTREAM_TIMEOUT)
            ],
            router=RouterSettings(retries=2, backoff=2.0, max_delay=8, cooldown=60),
            control=ControlSettings(auth=True, database=f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}"),
        )
        with serving(create_app(settings)) as url:
            admin_key = (tmp_path / "admin-key").read_text().strip()
            admin = {"x-api-key": admin_key}
            project = httpx.post(url + "/admin/projects", json={"name": "p", "max_concurrency": CLIENTS}, headers=admin)
            assert project.status_code == 201, project.text
            created = httpx.post(url + "/admin/keys", json={"name": "k", "project": "p"}, headers=admin)
            assert created.status_code == 201, created.text
            yield Server(url, script, created.json()["key"], admin_key)


def body(stream: bool) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 20, "stream": stream, "messages": [{"role": "user", "content": "Hi"}]}


async def ask_and_leave(server: Server, path: str, payload: dict[str, Any]) -> bytes:
    """Sends the request on a raw connection and closes it after LEAVE_AFTER; returns what had arrived by then."""
    port = int(server.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {server.key}\r\ncontent-length: {len(data)}\r\n\r\n"
    )
    writer.write(head.encode() + data)
    await writer.drain()
    await asyncio.sleep(LEAVE_AFTER)
    arrived = b""
    with contextlib.suppress(TimeoutError):
        arrived = await asyncio.wait_for(reader.read(1 << 16), 0.01)
    writer.close()
    return arrived


def leave_all(server: Server, dialect: str, stream: bool) -> float:
    """CLIENTS requests at once, all abandoned; returns when (time.monotonic()) they left."""

    async def go() -> list[bytes]:
        payload = body(stream)
        return await asyncio.gather(*(ask_and_leave(server, ROUTES[dialect], payload) for _ in range(CLIENTS)))

    arrived = asyncio.run(go())
    left = time.monotonic()
    assert arrived == [b""] * CLIENTS  # nothing had been answered: they left during the wait for the first event
    return left


def wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def assert_settled_and_released(server: Server, dialect: str, stream: bool) -> None:
    records = server.usage_records()
    assert len(records) == CLIENTS
    assert {r["status"] for r in records} == {"cancelled"}  # not `reserved`: the ticket settled when they left
    # The concurrency leases are back: as many requests as the limit allows run at once again.
    server.upstream.actions = ["wait:0.3"] * CLIENTS

    async def again() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            headers = {"authorization": f"Bearer {server.key}"}
            calls = [http.post(ROUTES[dialect], json=body(stream), headers=headers) for _ in range(CLIENTS)]
            return [r.status_code for r in await asyncio.gather(*calls)]

    assert asyncio.run(again()) == [200] * CLIENTS


CASES = [(d, s) for d in ROUTES for s in (False, True)]


@pytest.mark.parametrize(("dialect", "stream"), CASES)
@pytest.mark.parametrize("stall", ["wait:10", "hold:10"])  # before the status line; after it, before any event
def test_a_client_that_leaves_before_the_first_event_closes_the_upstream_call(
    server: Server, dialect: str, stream: bool, stall: str
) -> None:
    server.upstream.actions = [stall] * CLIENTS
    left = leave_all(server, dialect, stream)
    wait_for(lambda: len(server.upstream.closed) == CLIENTS, 3)
    assert len(server.upstream.closed) == CLIENTS  # every upstream call was closed ...
    assert max(server.upstream.closed) - left < 1.0  # ... at once, not at the upstream timeout (8 s)
    assert len(server.upstream.requests) == CLIENTS
    assert_settled_and_released(server, dialect, stream)


@pytest.mark.parametrize(("dialect", "stream"), [("anthropic", True), ("openai", False)])
def test_a_client_that_leaves_during_the_retry_backoff_stops_the_retries(
    server: Server, dialect: str, stream: bool
) -> None:
    server.upstream.actions = ["503"] * CLIENTS  # each first try fails at once; the retry would come after 2 s
    leave_all(server, dialect, stream)
    time.sleep(2.5)
    assert len(server.upstream.requests) == CLIENTS  # no retry was sent for a client that had gone
    assert_settled_and_released(server, dialect, stream)


def test_an_in_process_caller_that_gives_up_closes_the_upstream_call() -> None:
    from basalt import InProcess

    with fake_upstream() as (url, script):
        settings = Settings(
            serve_local=False,
            deployments=[Deployment(name="m", provider="openai", model="up", base_url=url, timeout=UPSTREAM_TIMEOUT)],
        )
        with InProcess(settings) as gateway:
            script.actions = ["wait:10"]

            async def give_up() -> float:
                async with gateway.async_http_client() as http:  # the app runs on this loop, which stays up
                    with pytest.raises(TimeoutError):
                        await asyncio.wait_for(http.post("/v1/messages", json=body(False)), LEAVE_AFTER)
                    left = time.monotonic()
                    while not script.closed and time.monotonic() < left + 3:
                        await asyncio.sleep(0.02)
                return left

            left = asyncio.run(give_up())
    assert len(script.closed) == 1 and script.closed[0] - left < 1.0
