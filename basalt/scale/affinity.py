"""Prefix affinity: which replica (or upstream deployment) most likely holds a prompt's prefix in its KV cache.

A call's key hashes the first `prefix_chars` characters of its prompt as the model will read it (system prompt,
tools, then the turns, in that order); calls that share that much text share a key. Replicas are ranked for a key by
rendezvous hashing (highest score of hash(key, replica) wins), so every gateway replica, with no shared state, sends a
key to the same engine replica, and a replica that joins or leaves moves only the keys it wins or held. Load breaks
ties and bounds the imbalance: the preferred replica is skipped while it runs more than `max_imbalance` calls beyond
the least busy one, so one hot system prompt spreads instead of queueing on one replica. A prompt shorter than
`prefix_chars` has no key (its prefill is cheap wherever it runs): it goes to the least busy replica.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterator, Sequence

import orjson

from ..canonical import MessagesRequest

__all__ = ["Affinity", "prefix_key", "rank"]


def prefix_key(request: MessagesRequest, prefix_chars: int) -> str | None:
    """The hash of the prompt's first `prefix_chars` characters; None when the prompt is shorter. Reads only as much
    of the request as it needs, so a huge prompt costs no more than a small one."""
    taken: list[str] = []
    size = 0
    for part in _prompt_parts(request):
        taken.append(part)
        size += len(part)
        if size >= prefix_chars:
            text = "\x1e".join(taken)[:prefix_chars]
            return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return None


def _prompt_parts(request: MessagesRequest) -> Iterator[str]:
    if isinstance(request.system, str):
        yield request.system
    elif request.system:
        yield from (block.text for block in request.system)
    for tool in request.tools or ():
        yield orjson.dumps(tool.model_dump(mode="json", exclude_none=True)).decode()
    for message in request.messages:
        yield message.role
        if isinstance(message.content, str):
            yield message.content
            continue
        for block in message.content:
            text = getattr(block, "text", None)
            yield text if isinstance(text, str) else orjson.dumps(block.model_dump(mode="json")).decode()


def _score(key: str, replica: str) -> bytes:
    return hashlib.blake2b(f"{key}\x1f{replica}".encode(), digest_size=8).digest()


def rank(key: str | None, replicas: Sequence[str], loads: Sequence[int], max_imbalance: int) -> list[int]:
    """Indexes into `replicas` (their stable ids) in the order to try them, given each one's calls in flight."""
    ties = [random.random() for _ in replicas]  # equal loads: any, so keyless calls spread over idle replicas
    by_load = sorted(range(len(replicas)), key=lambda i: (loads[i], ties[i]))
    if key is None or not replicas:
        return by_load
    lightest = loads[by_load[0]]
    by_score = sorted(range(len(replicas)), key=lambda i: _score(key, replicas[i]), reverse=True)
    preferred = next(i for i in by_score if loads[i] <= lightest + max_imbalance)  # the lightest always qualifies
    return [preferred, *(i for i in by_load if i != preferred)]


class Affinity:
    """A routing policy over replicas known by stable ids: `prefix` (the key's rendezvous winner within the bound) or
    `round_robin` (the baseline bench/scale.py compares with)."""

    def __init__(self, policy: str = "prefix", max_imbalance: int = 4) -> None:
        if policy not in ("prefix", "round_robin"):
            raise ValueError(f"unknown routing policy {policy!r}")
        self.policy = policy
        self.max_imbalance = max_imbalance
        self._turn = itertools.count()

    def order(self, key: str | None, replicas: Sequence[str], loads: Sequence[int]) -> list[int]:
        if self.policy == "round_robin" and replicas:
            start = next(self._turn) % len(replicas)
            return [(start + n) % len(replicas) for n in range(len(replicas))]
        return rank(key, replicas, loads, self.max_imbalance)
