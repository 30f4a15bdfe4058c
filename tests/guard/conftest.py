"""One set of loaded models (the embedding model takes seconds to load) for every guard test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from basalt.guard import Guardrail, GuardrailConfig, Resources


@pytest.fixture(scope="session")
def resources() -> Resources:
    return Resources()


@pytest.fixture
def make(resources: Resources) -> Callable[..., Guardrail]:
    def build(**config: Any) -> Guardrail:
        return Guardrail(GuardrailConfig(name="t", **config), resources)

    return build


async def aiter_events(events: list[dict[str, Any]], size: int = 1) -> AsyncIterator[list[dict[str, Any]]]:
    """The events as a provider streams them: in batches of `size` (one per token, by default)."""
    for i in range(0, len(events), size):
        yield events[i : i + size]
