"""Prefix affinity, the policy alone: the key, the rendezvous ranking, the imbalance bound, and the upstream router
that uses it for deployments with prefix caches. No Ray here (tests/scale/test_ray_serve.py runs it on a cluster)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from basalt.canonical import MessagesRequest
from basalt.config import EngineSettings
from basalt.providers.mock import MockProvider
from basalt.router import PrefixRouting, Router, Target
from basalt.scale import Affinity, prefix_key, rank

SYSTEM = "You are the support desk of a shipping company. " * 10  # 480 characters


def request(system: str | None, question: str, **extra: Any) -> MessagesRequest:
    body: dict[str, Any] = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": question}]}
    if system is not None:
        body["system"] = system
    return MessagesRequest.model_validate({**body, **extra})


def test_calls_sharing_the_leading_characters_share_a_key() -> None:
    a, b = prefix_key(request(SYSTEM, "Where is my parcel?"), 256), prefix_key(request(SYSTEM, "Refund?"), 256)
    assert a is not None and a == b
    assert prefix_key(request("Another desk. " * 40, "Where is my parcel?"), 256) != a
    blocks = request([{"type": "text", "text": SYSTEM}], "Refund?")  # type: ignore[arg-type]
    assert prefix_key(blocks, 256) == a  # the system prompt as text blocks reads the same
    assert prefix_key(request(None, "Hi"), 256) is None  # too short to be worth a cache: no key, the least busy
    assert prefix_key(request(SYSTEM, "x"), 4096) is None


def test_a_huge_prompt_is_keyed_by_its_first_characters_only() -> None:
    huge = request(SYSTEM, "y" * 5_000_000, messages=[{"role": "user", "content": "z"}] * 20_000)
    start = time.perf_counter()
    assert prefix_key(huge, 256) == prefix_key(request(SYSTEM, "Refund?"), 256)
    assert time.perf_counter() - start < 0.01


def test_every_gateway_ranks_the_same_replica_first_for_a_key() -> None:
    replicas = ["r-a", "r-b", "r-c", "r-d"]
    first = {key: rank(key, replicas, [0] * 4, 4)[0] for key in (f"k{n}" for n in range(2000))}
    shuffled = ["r-c", "r-a", "r-d", "r-b"]  # another gateway may list the replicas in another order
    assert all(shuffled[rank(k, shuffled, [0] * 4, 4)[0]] == replicas[i] for k, i in first.items())
    shares = Counter(first.values())
    assert all(400 <= shares[i] <= 600 for i in range(4)), shares  # keys spread evenly


def test_a_replica_leaving_moves_only_the_keys_it_held() -> None:
    replicas = ["r-a", "r-b", "r-c"]
    before = {k: replicas[rank(k, replicas, [0] * 3, 4)[0]] for k in (f"k{n}" for n in range(900))}
    left = ["r-a", "r-c"]
    after = {k: left[rank(k, left, [0] * 2, 4)[0]] for k in before}
    assert all(after[k] == before[k] for k in before if before[k] != "r-b")


def test_the_preferred_replica_is_passed_over_beyond_the_imbalance_bound() -> None:
    replicas = ["r-a", "r-b"]
    preferred = rank("k", replicas, [0, 0], 4)[0]
    loads = [0, 0]
    loads[preferred] = 4  # four more than the other: still within the bound
    assert rank("k", replicas, loads, 4)[0] == preferred
    loads[preferred] = 5
    assert rank("k", replicas, loads, 4) == [1 - preferred, preferred]
    assert rank(None, replicas, [3, 1], 4) == [1, 0]  # no key: the least busy


def test_round_robin_takes_turns() -> None:
    policy = Affinity("round_robin")
    assert [policy.order("k", ["a", "b", "c"], [0, 0, 0])[0] for _ in range(4)] == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="unknown routing policy"):
        Affinity("random")


def test_upstreams_with_prefix_caches_get_a_prompt_where_its_prefix_went() -> None:
    targets = [Target(MockProvider(lambda r: [], model=f"up{n}"), f"up{n}", label=f"vllm-{n}") for n in range(3)]
    router = Router("m", targets, prefix=PrefixRouting(prefix_chars=256, max_imbalance=2))
    chosen = {router.order(request(SYSTEM, q))[0].label for q in ("Where?", "When?", "Why?", "How much?")}
    assert len(chosen) == 1  # one system prompt, one deployment
    systems = [f"Desk number {n}. " * 30 for n in range(30)]
    assert len({router.order(request(s, "Hi"))[0].label for s in systems}) == 3  # many prompts, all deployments
    busy = next(t for t in targets if t.label in chosen)
    busy.in_flight = 3  # beyond the bound: the next call goes elsewhere
    assert router.order(request(SYSTEM, "Where?"))[0] is not busy


def test_autoscaling_bounds_go_together() -> None:
    assert EngineSettings(backend="ray", min_replicas=1, max_replicas=4).max_replicas == 4
    with pytest.raises(ValidationError, match="go together"):
        EngineSettings(backend="ray", min_replicas=1)
    with pytest.raises(ValidationError, match="must not be above"):
        EngineSettings(backend="ray", min_replicas=5, max_replicas=4)
