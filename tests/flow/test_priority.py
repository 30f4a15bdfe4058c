"""Call priority: batch calls reach a provider that schedules by priority (the local engine) as batch work, and
take only a share of each upstream deployment's concurrency, waiting out its rate limits. In memory, no socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

from basalt.canonical import MessagesRequest
from basalt.errors import Overloaded, RateLimited
from basalt.flow import Call
from basalt.providers.base import EventBatch, ModelInfo, Priority, open_stream
from basalt.providers.mock import MockProvider, text_answer
from basalt.router import RetryPolicy, Router, Target

from .test_flow import Platform, call


class Scheduled(MockProvider):
    """A provider with the `Prioritized` capability: it records the priority of each call it was given."""

    def __init__(self, model: str = "local") -> None:
        super().__init__(text_answer("ok"), model=model)
        self.priorities: list[str] = []

    def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        return self.stream_at("interactive", request, model)

    async def stream_at(self, priority: Priority, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        self.priorities.append(priority)
        async for batch in super().stream(request, model):
            yield batch


class Gated:
    """An upstream whose answers wait for `release`, counting the calls in flight."""

    def __init__(self, fail_first: int = 0, retry_after: float | None = None) -> None:
        self.info = ModelInfo("up", "up", "2025-01-01T00:00:00Z")
        self.release = asyncio.Event()
        self.in_flight = self.peak = self.calls = 0
        self.fail_first, self.retry_after = fail_first, retry_after
        self.started: list[float] = []

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        self.calls += 1
        self.started.append(time.monotonic())
        if self.calls <= self.fail_first:
            raise RateLimited("slow down", retry_after=self.retry_after)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.release.wait()
            for batch in text_answer("ok")(request):
                yield batch
        finally:
            self.in_flight -= 1

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        return 1

    async def aclose(self) -> None:
        """Nothing to release."""


async def drain(events: AsyncIterator[EventBatch]) -> int:
    return sum([len(batch) async for batch in events])


def test_a_batch_call_reaches_a_prioritized_provider_as_batch_and_an_interactive_one_as_interactive(
    tmp_path: Path,
) -> None:
    local = Scheduled()
    platform = Platform(tmp_path, local)

    async def go() -> None:
        await platform.run(call("local", request_id="r1"))
        await platform.run(call("local", request_id="r2", priority="batch"))

    asyncio.run(go())
    assert local.priorities == ["interactive", "batch"]


def test_a_provider_without_the_capability_answers_batch_calls_as_usual() -> None:
    mock = MockProvider(text_answer("hi"), model="m")
    the_call: Call = call("m", priority="batch")
    assert asyncio.run(drain(open_stream(mock, the_call.request, "m", "batch"))) > 0
    assert len(mock.requests) == 1


def router(
    upstream: Gated,
    max_concurrency: int | None,
    batch_share: float = 0.5,
    batch_concurrency: int = 8,
    batch_max_wait: float = 60.0,
) -> Router:
    target = Target(upstream, "up", max_concurrency=max_concurrency, label="up")
    policy = RetryPolicy(2, 0.001, 0.01, 30.0, batch_share, batch_concurrency, batch_max_wait)
    return Router("m", [target], policy)


def test_batch_calls_use_at_most_their_share_of_a_deployment_and_interactive_ones_still_get_in() -> None:
    upstream = Gated()
    r = router(upstream, max_concurrency=4, batch_share=0.5)
    request = call("m").request

    async def go() -> None:
        batch = [asyncio.create_task(drain(r.stream(request, "m", priority="batch"))) for _ in range(6)]
        await asyncio.sleep(0.2)
        assert upstream.in_flight == 2 and r.targets[0].batch_in_flight == 2  # 4 batch calls wait for room
        interactive = [asyncio.create_task(drain(r.stream(request, "m"))) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert upstream.in_flight == 4  # interactive calls took the rest at once
        upstream.release.set()
        await asyncio.gather(*batch, *interactive)

    asyncio.run(go())
    assert upstream.calls == 8 and r.targets[0].in_flight == r.targets[0].batch_in_flight == 0


def test_without_max_concurrency_batch_calls_are_bounded_by_batch_concurrency() -> None:
    upstream = Gated()
    r = router(upstream, max_concurrency=None, batch_concurrency=3)
    request = call("m").request

    async def go() -> None:
        tasks = [asyncio.create_task(drain(r.stream(request, "m", priority="batch"))) for _ in range(7)]
        await asyncio.sleep(0.2)
        assert upstream.in_flight == 3
        upstream.release.set()
        await asyncio.gather(*tasks)

    asyncio.run(go())
    assert upstream.peak == 3 and upstream.calls == 7


def test_a_batch_call_waits_out_a_retry_after_longer_than_an_interactive_call_would() -> None:
    upstream = Gated(fail_first=1, retry_after=0.3)
    upstream.release.set()
    r = router(upstream, max_concurrency=None, batch_max_wait=1.0)
    request = call("m").request

    async def go() -> None:
        first = asyncio.create_task(drain(r.stream(request, "m", priority="batch")))
        await asyncio.sleep(0.05)
        # The deployment rests from batch calls: a second one waits too, instead of hitting the limit again.
        assert r.targets[0].batch_resting_until > time.monotonic()
        second = asyncio.create_task(drain(r.stream(request, "m", priority="batch")))
        await asyncio.gather(first, second)

    began = time.monotonic()
    asyncio.run(go())
    assert upstream.calls == 3
    assert all(t - began >= 0.28 for t in upstream.started[1:])  # both went only after the retry-after


def test_an_interactive_call_does_not_wait_a_retry_after_beyond_max_delay() -> None:
    upstream = Gated(fail_first=1, retry_after=0.3)
    upstream.release.set()
    r = router(upstream, max_concurrency=None)
    request = call("m").request

    async def go() -> None:
        await drain(r.stream(request, "m"))

    try:
        asyncio.run(go())
    except RateLimited:
        pass
    else:
        raise AssertionError("expected the rate limit to reach the caller")
    assert upstream.calls == 1


def test_a_batch_call_that_finds_no_room_for_batch_max_wait_is_refused_as_overloaded() -> None:
    upstream = Gated()
    r = router(upstream, max_concurrency=2, batch_share=0.5, batch_max_wait=0.2)
    request = call("m").request

    async def go() -> None:
        holder = asyncio.create_task(drain(r.stream(request, "m", priority="batch")))
        await asyncio.sleep(0.05)
        began = time.monotonic()
        try:
            await drain(r.stream(request, "m", priority="batch"))
        except Overloaded:
            assert 0.15 <= time.monotonic() - began < 1.0
        else:
            raise AssertionError("expected the second batch call to be refused")
        upstream.release.set()
        await holder

    asyncio.run(go())
    assert upstream.calls == 1
