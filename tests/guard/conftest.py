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


async def aiter_events(events: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for event in events:
        yield event
