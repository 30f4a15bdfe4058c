"""The registry's look-up of definitions it does not hold: once per name however many ask, misses remembered for
a while, hostile names never looked up, and a store that cannot be reached a retryable error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from basalt.errors import Overloaded
from basalt.guard import Guardrails, Resources

STORED = {"name": "g", "version": "1", "words": {"words": ["zeus"]}}


class Store:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.definitions: dict[tuple[str, str], dict[str, Any]] = {}
        self.down = False

    async def fetch(self, name: str, version: str) -> dict[str, Any] | None:
        self.asked.append((name, version))
        await asyncio.sleep(0.01)
        if self.down:
            raise ConnectionError("database is down")
        return self.definitions.get((name, version))


@pytest.mark.anyio
async def test_a_stored_definition_is_fetched_and_compiled_once(resources: Resources) -> None:
    store = Store()
    store.definitions[("g", "1")] = STORED
    registry = Guardrails(resources=resources, fetch=store.fetch)
    found = await asyncio.gather(*(registry.find("g", 1) for _ in range(20)))
    assert found[0] is not None and found[0].config.words is not None and all(g is found[0] for g in found)
    assert await registry.find("g", "1") is found[0]
    assert store.asked == [("g", "1")]


@pytest.mark.anyio
async def test_misses_are_remembered_for_miss_seconds(resources: Resources) -> None:
    store = Store()
    registry = Guardrails(resources=resources, fetch=store.fetch, miss_seconds=0.2)
    assert await registry.find("g", "1") is None and await registry.find("g", "1") is None
    store.definitions[("g", "1")] = STORED  # defined meanwhile, on another replica
    assert await registry.find("g", "1") is None and store.asked == [("g", "1")]
    await asyncio.sleep(0.25)
    assert await registry.find("g", "1") is not None and len(store.asked) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "version"), [("a\x00b", "1"), ("x" * 51, "1"), ("g", "1" * 41), ("g", "v1"), ("", "1"), ("g", "٣")]
)
async def test_references_no_definition_can_have_are_not_looked_up(name: str, version: str) -> None:
    store = Store()
    registry = Guardrails(fetch=store.fetch)
    assert await registry.find(name, version) is None and store.asked == []


@pytest.mark.anyio
async def test_an_unreachable_store_is_a_retryable_error_not_a_miss() -> None:
    store = Store()
    store.down = True
    registry = Guardrails(fetch=store.fetch)
    with pytest.raises(Overloaded, match="retry"):
        await registry.find("g", "1")
    store.down = False
    assert await registry.find("g", "1") is None and len(store.asked) == 2  # the failure was not cached as a miss
