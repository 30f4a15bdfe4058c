"""The local engine on Ray Serve: a two-node Ray cluster on this machine (`ray start --head`, `ray start --address`,
one CPU each) serving two engine replicas through a Basalt gateway with its whole flow in front. Prefix affinity
(16 clients, one long system prompt, the engines' prefix-reuse counters), then a node killed: the stream it served
ends with an error event and a ledger row, the calls after it succeed, and the replica comes back on a new node."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="the ray extra: pip install 'basalt[ray]'")

from basalt import InProcess
from basalt.config import Settings
from basalt.scale.ray_serve import RayEngineProvider, running_replicas

from .cluster import RayCluster

MODEL = "smollm2-135m-instruct"
# About 450 tokens: long enough that computing it again would show in the counters, short enough for one CPU.
SYSTEM = " ".join(
    f"Rule {n}: answer in plain words, cite the handbook section {n}, and never guess." for n in range(30)
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    ray_cluster = RayCluster(cpus=1)
    try:
        yield ray_cluster.start(workers=1)
    finally:
        ray_cluster.stop()


@pytest.fixture(scope="module")
def gateway(cluster: RayCluster, basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    home = tmp_path_factory.mktemp("ray-gateway")
    (home / "models").symlink_to(basalt_home / "models")
    # A prompt is prefilled in one step (n_batch, prefill_chunk): a call that comes while the shared prompt is being
    # computed waits for it rather than copying the part done so far and computing the rest (the engine waits only
    # for 256 tokens or more, engine/scheduler.py), so "computed once per replica" holds to the token.
    engine = {
        "backend": "ray",
        "address": cluster.address,
        "replicas": 2,
        "max_seqs": 4,
        "context_window": 2048,
        "n_batch": 1024,
        "prefill_chunk": 1024,
    }
    with InProcess(Settings(home=home, engine=engine)) as basalt:
        yield basalt


def provider(gateway: InProcess) -> RayEngineProvider:
    engine, _, _ = gateway.platform.catalog.resolve(MODEL)
    assert isinstance(engine, RayEngineProvider)
    return engine


def reused(gateway: InProcess) -> dict[str, int]:
    return {s["replica"]: s["prefix_reused_tokens"] for s in provider(gateway).replica_stats()}


def test_sixteen_clients_compute_a_shared_system_prompt_at_most_once_per_replica(gateway: InProcess) -> None:
    client = gateway.anthropic(max_retries=0)
    # The tokens the prompts share, near enough: the prompt with a one-character question, less that turn's tokens.
    ask = [{"role": "user", "content": "?"}]
    shared = client.messages.count_tokens(model=MODEL, system=SYSTEM, messages=ask).input_tokens - 8
    before = reused(gateway)
    assert len(before) == 2

    def call(n: int) -> int:
        question = [{"role": "user", "content": f"Question {n}: what does rule {n} say?"}]
        reply = client.messages.create(model=MODEL, max_tokens=2, system=SYSTEM, messages=question)
        return reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0)  # the whole prompt

    with ThreadPoolExecutor(16) as pool:
        inputs = list(pool.map(call, range(16)))
    after = reused(gateway)
    gained = {replica: after[replica] - before.get(replica, 0) for replica in after}
    # Computed prompt tokens = sent - reused. At most once per replica: 2 x shared plus each call's own tail, i.e.
    # reused >= (16 - 2) x shared. One more computation of the shared prompt would miss it by ~450 tokens.
    assert sum(gained.values()) >= (16 - 2) * shared, (gained, shared, inputs)
    assert all(n > shared for n in inputs)


def sse_events(gateway: InProcess, body: dict[str, Any], seen: threading.Event) -> list[str]:
    """The event types of one streamed call, raw SSE; `seen` is set at its first text."""
    types: list[str] = []
    with gateway.http_client() as http, http.stream("POST", "/v1/messages", json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("event: "):
                types.append(line.removeprefix("event: "))
                if types[-1] == "content_block_delta":
                    seen.set()
    return types


def test_a_node_killed_mid_stream_ends_its_stream_cleanly_and_the_replica_comes_back(
    cluster: RayCluster, gateway: InProcess
) -> None:
    engine = provider(gateway)
    replicas = {s["replica"] for s in engine.replica_stats()}
    assert len(replicas) == 2
    long = {
        "model": MODEL,
        "max_tokens": 600,
        "ignore_eos": True,
        "stream": True,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    seen = [threading.Event(), threading.Event()]
    with ThreadPoolExecutor(2) as pool:
        # Two calls with no shared prefix: one on each replica (the least busy), so one runs on the node killed. The
        # second starts once the first streams, so the router's view of the replicas' load has the first in it (two
        # at once both went to one replica, once in a CI run).
        streams = [pool.submit(sse_events, gateway, long, seen[0])]
        assert seen[0].wait(60)
        streams.append(pool.submit(sse_events, gateway, long, seen[1]))
        assert seen[1].wait(60)
        cluster.kill_node(cluster.nodes[1])
        killed = time.monotonic()
        ended = [s.result(timeout=120) for s in streams]
    cut_after = time.monotonic() - killed
    cut = [types for types in ended if "error" in types]
    assert len(cut) == 1, ended  # the other stream finished on the replica that lived
    assert cut[0][-1] == "error" and "message_stop" not in cut[0]
    assert next(t for t in ended if t is not cut[0])[-1] == "message_stop"

    client = gateway.anthropic(max_retries=0)
    for n in range(6):  # the calls that follow succeed, on the replica left
        reply = client.messages.create(model=MODEL, max_tokens=3, messages=[{"role": "user", "content": f"Hi {n}"}])
        assert reply.stop_reason in ("max_tokens", "end_turn")
    after_kill = time.monotonic() - killed - cut_after

    with gateway.http_client() as http:  # one ledger row per call, the cut stream's included, marked as an error
        records = http.get("/v1/usage", params={"records": "1", "limit": "100"}).json()["data"]
    statuses = [r["status"] for r in records if r["endpoint"] == "messages"]
    assert statuses.count("error") == 1, statuses

    cluster.add_node()  # Ray replaces the lost replica once there is a CPU for it
    deadline = time.monotonic() + 90
    while True:
        now = {s["replica"] for s in engine.replica_stats()} if running_replicas(engine.app) == 2 else set()
        if len(now) == 2 and now != replicas:
            break
        assert time.monotonic() < deadline, (now, replicas)
        time.sleep(0.5)
    assert len(now & replicas) == 1  # the survivor, and a new replica in place of the one killed
    reply = client.messages.create(model=MODEL, max_tokens=3, messages=[{"role": "user", "content": "Back?"}])
    assert reply.usage.output_tokens > 0
    print(json.dumps({"streams_ended_s": round(cut_after, 2), "six_calls_after_s": round(after_kill, 2)}))
