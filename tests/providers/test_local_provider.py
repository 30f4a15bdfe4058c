"""The local provider on the real model: what a request costs is bounded before it is paid, the costly part runs off
the event loop, and hostile schemas or prompts get a 400 that says what to change."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from basalt.canonical import MessagesRequest
from basalt.engine.core import EngineConfig
from basalt.engine.runtime import LocalEngine
from basalt.errors import InvalidRequest
from basalt.providers.local import LocalProvider


@pytest.fixture(scope="module")
def provider(model_path: Path) -> Iterator[LocalProvider]:
    engine = LocalEngine(model_path, EngineConfig(context_window=4096, max_seqs=2))
    engine.start()
    yield LocalProvider(engine, "smollm2", "SmolLM2", "2024-11-01T00:00:00Z")
    engine.stop()


def request(messages: list[dict[str, Any]] | None = None, **fields: Any) -> MessagesRequest:
    body = {"model": "smollm2", "max_tokens": 4, "temperature": 0, **fields}
    body["messages"] = messages or [{"role": "user", "content": "Say hi."}]
    return MessagesRequest.model_validate(body)


def alternating(n: int, text: str) -> list[dict[str, Any]]:
    return [{"role": ("user", "assistant")[i % 2], "content": text} for i in range(n - 1 + n % 2)]


async def first_batch(provider: LocalProvider, req: MessagesRequest) -> list[dict[str, Any]]:
    stream = provider.stream(req, "smollm2")
    try:
        return await anext(stream)
    finally:
        await stream.aclose()


async def longest_stall(work: Callable[[], Awaitable[object]]) -> tuple[float, BaseException | None]:
    """Run `work` while a probe sleeps 5 ms at a time; return the longest the loop kept the probe waiting past its
    sleep, and what `work` raised."""
    stalls: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - started - 0.005)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.02)
    error: BaseException | None = None
    try:
        await work()
    except Exception as exc:
        error = exc
    done.set()
    await task
    return max(stalls), error


# The request: 40,000 short messages, 1.6 MB, froze every other request for 19 s before its 400.
HUGE = [alternating(40_000, "m" * 39), [{"role": "user", "content": "m" * 39}] * 40_000]


@pytest.mark.parametrize("messages", HUGE, ids=["alternating", "one-role"])
@pytest.mark.parametrize("call", ["stream", "count_tokens"])
def test_a_huge_prompt_is_refused_at_a_glance_without_stalling_the_loop(
    provider: LocalProvider, messages: list[dict[str, Any]], call: str
) -> None:
    req = request(messages)

    async def go() -> tuple[float, BaseException | None, float]:
        started = time.perf_counter()
        if call == "stream":
            stall, error = await longest_stall(lambda: first_batch(provider, req))
        else:
            stall, error = await longest_stall(lambda: provider.count_tokens(req, "smollm2"))
        return stall, error, time.perf_counter() - started

    stall, error, took = asyncio.run(go())
    assert stall < 0.15 and took < 2.0, (stall, took)
    assert isinstance(error, InvalidRequest) and str(error).startswith("prompt is too long: at least")


def on_workers(threads: set[str]) -> bool:
    return bool(threads) and threads <= {"basalt-prepare_0", "basalt-prepare_1"}


@pytest.fixture
def threads_of(provider: LocalProvider, monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """The threads that tokenize, render and make samplers, by what they do."""
    seen: dict[str, set[str]] = {"tokenize": set(), "render": set(), "sampler": set()}
    engine = provider.engine
    for name, owner in (("tokenize", engine), ("render", engine.template), ("sampler", engine)):
        real = getattr(owner, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            seen[_name].add(threading.current_thread().name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)
    return seen


def test_a_long_prompt_the_glance_lets_through_is_rendered_and_tokenized_off_the_loop(
    provider: LocalProvider, threads_of: dict[str, set[str]]
) -> None:
    long = request(alternating(201, "All work and no play makes Jack a dull boy. " * 3))

    async def go() -> tuple[float, BaseException | None]:
        return await longest_stall(lambda: first_batch(provider, long))

    stall, error = asyncio.run(go())
    assert isinstance(error, InvalidRequest) and str(error).startswith("prompt is too long: ")
    assert "at least" not in str(error)  # it took tokenizing to tell
    assert on_workers(threads_of["render"]) and on_workers(threads_of["tokenize"])
    assert stall < 0.15


def test_count_tokens_counts_off_the_loop_what_stream_would_send(
    provider: LocalProvider, threads_of: dict[str, set[str]]
) -> None:
    req = request(alternating(41, "A sentence of some length, to be counted. " * 4))
    counted = asyncio.run(provider.count_tokens(req, "smollm2"))
    assert on_workers(threads_of["tokenize"])
    start = asyncio.run(first_batch(provider, req))[0]
    assert counted == start["message"]["usage"]["input_tokens"] > 1000


def test_a_small_request_is_prepared_off_the_loop_too_and_answered(
    provider: LocalProvider, threads_of: dict[str, set[str]]
) -> None:
    batch = asyncio.run(first_batch(provider, request()))
    assert batch[0]["type"] == "message_start"
    assert on_workers(threads_of["tokenize"]) and on_workers(threads_of["sampler"])


def test_a_grammar_is_compiled_off_the_loop(provider: LocalProvider, threads_of: dict[str, set[str]]) -> None:
    fmt = {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}
    batch = asyncio.run(first_batch(provider, request(output_config=fmt)))
    assert batch[0]["type"] == "message_start"
    assert on_workers(threads_of["sampler"])


def test_a_caller_that_leaves_during_preparation_frees_what_it_made(provider: LocalProvider) -> None:
    discarded: list[str] = []
    release = threading.Event()

    def work() -> str:
        release.wait(5)
        return "sampler"

    async def go() -> None:
        task = asyncio.create_task(provider.engine.offload(work, discarded.append))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        for _ in range(100):
            if discarded:
                break
            await asyncio.sleep(0.01)

    asyncio.run(go())
    assert discarded == ["sampler"]


def test_a_small_request_stays_fast_while_huge_ones_are_refused(provider: LocalProvider) -> None:
    huge = request(HUGE[0])

    async def go() -> float:
        refusals = [asyncio.create_task(first_batch(provider, huge)) for _ in range(8)]
        started = time.perf_counter()
        batch = await first_batch(provider, request())
        took = time.perf_counter() - started
        assert batch[0]["type"] == "message_start"
        for task in refusals:
            with pytest.raises(InvalidRequest, match="prompt is too long"):
                await task
        return took

    assert asyncio.run(go()) < 1.0


# -- thinking and schemas --------------------------------------------------------------------------------------------


def test_adaptive_thinking_as_claude_code_sends_it_is_answered_without_thinking(provider: LocalProvider) -> None:
    req = request(thinking={"type": "adaptive", "display": "omitted"})
    assert req.thinking is not None and req.thinking.display == "omitted"

    async def go() -> list[dict[str, Any]]:
        return [event async for batch in provider.stream(req, "smollm2") for event in batch]

    events = asyncio.run(go())
    assert events[-1]["type"] == "message_stop"
    assert not any(e.get("content_block", {}).get("type") == "thinking" for e in events)


def test_a_prompt_too_long_is_said_before_thinking_is_refused(provider: LocalProvider) -> None:
    enabled = {"type": "enabled", "budget_tokens": 1024}
    too_long = request(alternating(301, "All work and no play makes Jack a dull boy. " * 3), thinking=enabled)
    with pytest.raises(InvalidRequest, match="prompt is too long"):
        asyncio.run(first_batch(provider, too_long))
    with pytest.raises(InvalidRequest, match="thinking type 'enabled' is not supported"):
        asyncio.run(first_batch(provider, request(thinking=enabled)))
    assert asyncio.run(provider.count_tokens(request(thinking=enabled), "smollm2")) > 0  # counting needs no thinking


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": "integer", "minimum": 10**18}}}},
            "the JSON schema of the output format cannot be enforced on the local model: at #/minimum: a minimum above",
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": [1, 2]}}}},
            "of the output format cannot be enforced on the local model: at #/properties: properties must be an object",
        ),
        (
            {"tools": [{"name": "big", "input_schema": {"type": "object", "properties": {"n": {"minLength": -1}}}}]},
            "the JSON schema of tool 'big' cannot be enforced on the local model: at #/properties/n/minLength:",
        ),
        (
            {
                "tools": [
                    {"name": "ok", "input_schema": {"type": "object"}},
                    {
                        "name": "big",
                        "input_schema": {"type": "object", "properties": {"n": {"type": "integer", "maximum": "9"}}},
                    },
                ],
                "tool_choice": {"type": "any"},
            },
            "of tool 'big' cannot be enforced on the local model: at #/properties/n/maximum: maximum must be",
        ),
        (
            {
                "tools": [{"name": "big", "input_schema": {"type": "integer", "minimum": 10**18}}],
                "tool_choice": {"type": "tool", "name": "big"},
            },
            "of tool 'big' cannot be enforced on the local model: at #/minimum: a minimum above",
        ),
    ],
)
def test_hostile_schemas_get_a_400_naming_whose_schema_and_where(
    provider: LocalProvider, fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(first_batch(provider, request(**fields)))
    assert words in str(caught.value)
