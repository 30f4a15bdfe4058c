"""A real `basalt serve` SIGKILLed at random points of a run of 100 requests and restarted at once on the same home
and database, as pid 1 of a new pid namespace (as in a container, where every restart is pid 1 again) and not:
every request that got an answer's headers is in the ledger exactly once, with the status its client saw."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from ..fakes.upstream import Script, fake_upstream
from .servers import Server
from .test_replicas import admin, config

REQUESTS = 100
KILLS = 4
PID_1 = ("unshare", "--pid", "--fork", "--mount-proc", "--kill-child")
ENDS = {
    "messages": (b"event: message_stop", b'"type":"message_delta"'),
    "chat": (b"data: [DONE]", b'"finish_reason":"'),
}


@dataclass
class Sent:
    """What one client saw: the request id of the answer's headers, the status, and whether the answer was whole."""

    dialect: str
    stream: bool
    request_id: str | None = None
    status: int | None = None
    whole: bool = False
    last_event_seen: bool = False  # a stream cut after its last content: the server may have finished it


def send(server: Callable[[], Server], key: str, n: int, rng: random.Random) -> Sent:
    """One request; sent again only while no server listens (so it never reached one)."""
    sent = Sent(rng.choice(["messages", "chat"]), rng.random() < 0.6)
    path = "/v1/messages" if sent.dialect == "messages" else "/v1/chat/completions"
    body: dict[str, Any] = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": f"Hi {n}"}]}
    if sent.stream:
        body["stream"] = True
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            receive(sent, server().url + path, body, key)
            return sent
        except httpx.ConnectError:
            time.sleep(0.05)  # killed, not yet restarted
        except (httpx.TransportError, ValueError):
            return sent  # cut by the kill
    return sent


def receive(sent: Sent, url: str, body: dict[str, Any], key: str) -> None:
    with httpx.stream("POST", url, json=body, headers={"x-api-key": key}, timeout=10) as response:
        sent.request_id, sent.status = response.headers.get("request-id"), response.status_code
        data = b"".join(response.iter_bytes())
    if not sent.stream:
        sent.whole = response.status_code == 200 and bool(httpx.Response(200, content=data).json())
    else:
        end, last = ENDS[sent.dialect]
        sent.whole, sent.last_event_seen = end in data, last in data


@pytest.fixture
def upstream() -> Iterator[tuple[str, Script]]:
    with fake_upstream() as found:
        yield found


@pytest.mark.parametrize("pid_1", [True, False], ids=["pid-1-in-a-pid-namespace", "plain"])
def test_sigkill_at_random_points_leaves_every_answered_request_in_the_ledger_once(
    tmp_path: Path, upstream: tuple[str, Script], pid_1: bool
) -> None:
    url, script = upstream
    rng = random.Random(17 + pid_1)
    # Some wait upstream before they answer, some stream slowly, so a kill finds requests in flight at every stage.
    script.actions = [rng.choice(["ok"] * 5 + ["slow:0.2", "drip:0.05"]) for _ in range(REQUESTS)]
    settings = config(url, f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}", None)
    server = Server(tmp_path, settings, prefix=PID_1 if pid_1 else ()).start()
    assert (namespace_pid(server) == 1) == pid_1
    admin(server, "POST", "/admin/projects", json={"name": "p"})
    key = admin(server, "POST", "/admin/keys", json={"name": "k", "project": "p"}).json()["key"]
    kills: list[float] = []
    pids: list[int] = []
    done = threading.Semaphore(0)

    def killer() -> None:
        nonlocal server
        for _ in range(KILLS):
            for _ in range(rng.randint(15, 25)):
                if not done.acquire(timeout=30):
                    return
            time.sleep(rng.random() * 0.3)  # at a random point of whatever is in flight
            server.kill()
            kills.append(time.monotonic())
            server = Server(tmp_path, settings, port=server.port, prefix=server.prefix).start()
            pids.append(namespace_pid(server))

    def one(n: int) -> Sent:
        try:
            return send(lambda: server, key, n, rng)
        finally:
            done.release()

    killing = threading.Thread(target=killer)
    killing.start()
    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(one, range(REQUESTS)))
    for _ in range(30):
        done.release()
    killing.join()
    try:
        records = admin(server, "GET", "/admin/usage", params={"records": "1", "limit": "1000"}).json()["data"]
    finally:
        server.stop()

    assert len(kills) == KILLS and (set(pids) == {1}) == pid_1  # every restart was pid 1 again, or none was
    ids = [r["request_id"] for r in records]
    assert len(ids) == len(set(ids))  # no request twice
    statuses = {r["request_id"]: r["status"] for r in records}
    assert "reserved" not in statuses.values()  # every run's open rows were reconciled by the next start
    answered = [s for s in sent if s.request_id is not None and s.status == 200]
    assert len({s.request_id for s in answered}) == len(answered)
    assert len(answered) >= 60, [s.status for s in sent]  # most were answered, between the kills
    missing = [s for s in answered if s.request_id not in statuses]
    assert not missing, missing
    wrong = [
        (s, statuses[s.request_id])
        for s in answered
        if not (statuses[s.request_id] == "ok" if s.whole else statuses[s.request_id] in cut_statuses(s))
    ]
    assert not wrong, wrong
    assert "interrupted" in statuses.values()  # the kills did cut requests in flight


def cut_statuses(sent: Sent) -> set[str]:
    """What a request cut by a kill may be recorded as: interrupted, or cancelled or an error if the server saw the cut
    first; `ok` only when the client had the last event, so the server had finished it."""
    return {"interrupted", "error", "cancelled", *(["ok"] if sent.last_event_seen else [])}


def namespace_pid(server: Server) -> int:
    """The server's pid as it sees it (in its own pid namespace)."""
    [pid] = server.served_by()
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[-1])
