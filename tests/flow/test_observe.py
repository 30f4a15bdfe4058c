"""Observers see every call exactly once, after its outcome is complete: answered, refused before any answer,
failed mid-stream, or left by the client; and a failing observer does not fail the call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from basalt.canonical.events import EventWriter
from basalt.errors import NotFound, Overloaded
from basalt.flow import Call
from basalt.providers.base import EventBatch
from basalt.providers.mock import MockProvider, text_answer

from .test_flow import Platform, call, routed


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def call_ended(self, call: Call) -> None:
        assert call.outcome.ended is not None  # complete before any observer sees it
        self.calls.append(call)


def observed(tmp_path: Path, *providers: Any) -> tuple[Platform, Recorder]:
    platform = Platform(tmp_path, *providers)
    recorder = Recorder()
    platform.flow.observers.add(recorder)
    return platform, recorder


def test_an_answered_call_is_seen_once_with_its_outcome(tmp_path: Path) -> None:
    platform, seen = observed(tmp_path, routed("m", ("mock:up", MockProvider(text_answer("a", "b"), model="up"))))
    the_call = call("m")
    asyncio.run(platform.run(the_call))
    assert seen.calls == [the_call]
    outcome = the_call.outcome
    assert (outcome.status, outcome.error, outcome.stop_reason) == ("ok", None, "end_turn")
    assert (outcome.usage["input_tokens"], outcome.usage["output_tokens"], outcome.output_deltas) == (5, 2, 2)
    assert outcome.response_id is not None and outcome.response_id.startswith("msg_")
    assert outcome.first_token is not None and the_call.timings.accepted <= outcome.first_token <= outcome.ended


def test_a_call_refused_before_any_answer_is_seen_with_its_error(tmp_path: Path) -> None:
    platform, seen = observed(tmp_path, MockProvider(text_answer("hi"), model="m"))
    the_call = call("nope")
    with pytest.raises(NotFound):
        asyncio.run(platform.run(the_call))
    assert seen.calls == [the_call]
    assert the_call.outcome.status == "error" and isinstance(the_call.outcome.error, NotFound)


def test_a_stream_that_fails_midway_is_seen_as_failed(tmp_path: Path) -> None:
    def breaks(request: Any) -> Any:
        writer = EventWriter(request.model)
        yield writer.start()
        yield writer.text("partial")
        raise Overloaded("upstream went away")

    platform, seen = observed(tmp_path, routed("m", ("mock:up", MockProvider(breaks, model="up"))))
    the_call = call("m")
    with pytest.raises(Overloaded):
        asyncio.run(platform.run(the_call))
    assert seen.calls == [the_call]
    assert (the_call.outcome.status, the_call.outcome.output_deltas) == ("error", 1)
    assert isinstance(the_call.outcome.error, Overloaded)


def test_a_client_that_leaves_midway_is_seen_as_cancelled(tmp_path: Path) -> None:
    platform, seen = observed(tmp_path, routed("m", ("mock:up", MockProvider(text_answer("a", "b", "c"), model="up"))))
    the_call = call("m")

    async def leave_after_first() -> None:
        events = await platform.flow.answer(the_call)
        first: EventBatch = await anext(events)
        assert first[0]["type"] == "message_start"
        await events.aclose()  # type: ignore[attr-defined]

    asyncio.run(leave_after_first())
    assert seen.calls == [the_call] and the_call.outcome.status == "cancelled"


def test_a_failing_observer_does_not_fail_the_call(tmp_path: Path) -> None:
    class Broken:
        def call_ended(self, call: Call) -> None:
            raise RuntimeError("observer bug")

    platform, seen = observed(tmp_path, routed("m", ("mock:up", MockProvider(text_answer("fine"), model="up"))))
    platform.flow.observers.observers.insert(0, Broken())
    the_call = call("m")
    asyncio.run(platform.run(the_call))
    assert seen.calls == [the_call] and the_call.outcome.status == "ok"
