import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from basalt.canonical import fold_events
from basalt.canonical.events import EventWriter
from basalt.guard import (
    Action,
    ContentFilter,
    EntityFilter,
    GroundingContext,
    GroundingPolicy,
    Guardrail,
    SensitiveInformationPolicy,
    WordPolicy,
    guard_stream,
)

from .conftest import aiter_events

Event = dict[str, Any]


def _answer(*pieces: str, tool: tuple[str, list[str]] | None = None, output_tokens: int = 42) -> list[Event]:
    w = EventWriter("m")
    w.usage = {"input_tokens": 7, "output_tokens": 0}
    events = w.start()
    for piece in pieces:
        events += w.text(piece)
    if tool is not None:
        index, start = w.tool("toolu_1", tool[0])
        events += start
        for part in tool[1]:
            events += w.tool_input(index, part)
    w.usage = {"input_tokens": 7, "output_tokens": output_tokens}
    return events + w.end("tool_use" if tool else "end_turn")


def _run(g: Guardrail, events: list[Event], size: int = 1, **kw: Any) -> tuple[list[Event], Any]:
    async def go() -> list[Event]:
        stream = guard_stream(g, aiter_events(events, size), **kw)
        out = [e async for batch in stream for e in batch]
        go.stream = stream  # type: ignore[attr-defined]
        return out

    out = asyncio.run(go())
    return out, go.stream  # type: ignore[attr-defined]


def assert_well_formed(events: list[Event]) -> None:
    """One message_start first; each block started once, in index order, deltas only while open, every block
    stopped; message_delta then message_stop last."""
    assert events[0]["type"] == "message_start"
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    open_: set[int] = set()
    started: list[int] = []
    for e in events[1:-2]:
        if e["type"] == "content_block_start":
            assert e["index"] == len(started) and not open_
            started.append(e["index"])
            open_.add(e["index"])
        elif e["type"] == "content_block_delta":
            assert e["index"] in open_
        elif e["type"] == "content_block_stop":
            open_.remove(e["index"])
    assert not open_
    assert "usage" in events[-2]


def _fold(events: list[Event]) -> dict[str, Any]:
    return asyncio.run(fold_events(aiter_events(events)))


def _text(events: list[Event]) -> str:
    return "".join(b.get("text", "") for b in _fold(events)["content"] if b["type"] == "text")


def _pii(make: Callable[..., Guardrail], mode: str = "sync", **kw: Any) -> Guardrail:
    entities = [EntityFilter(type=t) for t in ("CREDIT_CARD", "EMAIL", "PHONE")]
    return make(stream_mode=mode, sensitive_information=SensitiveInformationPolicy(entities=entities), **kw)


def test_sync_masks_a_card_split_across_deltas(make: Callable[..., Guardrail]) -> None:
    pieces = ["Your card ", "number is 41", "11 1111 ", "1111 1111", " and your email is jane", "@example.com, ok?"]
    out, stream = _run(_pii(make), _answer(*pieces), trace=True)
    assert_well_formed(out)
    assert _text(out) == "Your card number is {CREDIT_CARD} and your email is {EMAIL}, ok?"
    released = "".join(e["delta"]["text"] for e in out if e["type"] == "content_block_delta")
    assert "4111" not in released and "jane" not in released
    assert stream.action is Action.ANONYMIZED
    assert out[-2]["guardrail"]["action"] == "GUARDRAIL_INTERVENED"
    assert out[-2]["usage"]["output_tokens"] == 42


def test_sync_masks_in_a_long_answer_streamed_token_by_token(make: Callable[..., Guardrail]) -> None:
    prose = "The quick brown fox jumps over the lazy dog. " * 12
    text = prose + "Call 415-555-0132 now. " + prose + "Card: 5555 5555 5555 4444." + prose
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    out, stream = _run(_pii(make), _answer(*pieces))
    assert_well_formed(out)
    assert _text(out) == text.replace("415-555-0132", "{PHONE}").replace("5555 5555 5555 4444", "{CREDIT_CARD}")
    assert len([e for e in out if e["type"] == "content_block_delta"]) > 3  # released progressively
    kinds = sorted(f.kind for f in stream.findings)
    assert kinds == ["CREDIT_CARD", "PHONE"]


def test_blocked_stream_ends_with_the_blocked_message(make: Callable[..., Guardrail]) -> None:
    g = make(words=WordPolicy(words=["project zeus"]), blocked_output_message="I can't discuss that.")
    prose = "Here is a long and harmless introduction to our roadmap for the year. " * 4
    out, stream = _run(g, _answer(prose, "The secret is Project ", "Zeus, which launches soon."), trace=True)
    assert_well_formed(out)
    message = _fold(out)
    assert message["stop_reason"] == "refusal"
    assert message["content"][-1]["text"] == "I can't discuss that."
    assert "Zeus" not in _text(out)
    assert stream.action is Action.INTERVENED
    assert out[-2]["guardrail"]["assessments"][0]["wordPolicy"]["customWords"][0]["match"] == "Project Zeus"
    assert out[-2]["usage"]["input_tokens"] == 7


def test_whole_mode_answer_is_only_the_blocked_message(make: Callable[..., Guardrail]) -> None:
    g = make(words=WordPolicy(words=["project zeus"]))
    prose = "Here is a long and harmless introduction to our roadmap for the year. " * 4
    out, _ = _run(g, _answer(prose, "Project Zeus launches."), whole=True)
    assert_well_formed(out)
    message = _fold(out)
    assert [b["text"] for b in message["content"]] == [g.blocked_message("OUTPUT")]


@pytest.mark.parametrize("whole", [False, True])
@pytest.mark.parametrize("policy", ["words", "pii"])
def test_where_batches_fall_changes_nothing(make: Callable[..., Guardrail], policy: str, whole: bool) -> None:
    """Providers batch the events of one network read: the answer a client gets, blocked, masked or not, must not
    depend on where those batches fall."""
    g = make(words=WordPolicy(words=["project zeus"])) if policy == "words" else _pii(make)
    prose = "Here is a long and harmless introduction to our roadmap for the year. " * 4
    events = _answer(prose, "Call 415-555-0132 ", "about Project ", "Zeus, which launches soon.", "Bye.")
    answers = [_run(g, events, size, whole=whole)[0] for size in (1, 2, 3, len(events))]
    assert_well_formed(answers[0])
    assert all(answer == answers[0] for answer in answers[1:])
    if policy == "words":
        assert _fold(answers[0])["stop_reason"] == "refusal"
    else:
        assert "Call {PHONE} about Project Zeus" in _text(answers[0])


def test_async_releases_at_once_and_stops_on_detection(make: Callable[..., Guardrail]) -> None:
    g = make(stream_mode="async", content=[ContentFilter(type="VIOLENCE")])
    prose = "Let me tell you a story about the harbour town and its people. " * 4
    out, stream = _run(g, _answer("Sure. ", prose, "Then he said: I'm going to kill you all. ", "More text."))
    assert_well_formed(out)
    deltas = [e["delta"]["text"] for e in out if e["type"] == "content_block_delta"]
    assert deltas[:2] == ["Sure. ", prose]  # released as they came
    assert "More text." not in deltas
    assert _fold(out)["stop_reason"] == "refusal" and deltas[-1] == g.blocked_message("OUTPUT")
    assert stream.action is Action.INTERVENED


def test_async_cannot_mask_and_says_so(make: Callable[..., Guardrail]) -> None:
    out, stream = _run(_pii(make, mode="async"), _answer("mail me at a@b.io ", "please"))
    assert_well_formed(out)
    assert "a@b.io" in _text(out)
    assert stream.action is Action.NONE
    assert [f.action for f in stream.findings] == ["NONE"]


def test_tool_input_is_masked_in_sync_mode(make: Callable[..., Guardrail]) -> None:
    tool = ("send_email", ['{"to": "jane@', 'example.com", "body": "card 4111111', '111111111"}'])
    out, _ = _run(_pii(make), _answer("Sending.", tool=tool))
    assert_well_formed(out)
    message = _fold(out)
    assert message["content"][1]["input"] == {"to": "{EMAIL}", "body": "card {CREDIT_CARD}"}
    assert message["stop_reason"] == "tool_use"


def test_tool_input_can_block(make: Callable[..., Guardrail]) -> None:
    entity = EntityFilter(type="CREDIT_CARD", output_action="BLOCK")
    for mode in ("sync", "async"):
        g = make(stream_mode=mode, sensitive_information=SensitiveInformationPolicy(entities=[entity]))
        out, stream = _run(g, _answer("Paying.", tool=("pay", ['{"card": "4111 1111 1111 1111"}'])))
        assert_well_formed(out)
        assert _fold(out)["stop_reason"] == "refusal" and stream.action is Action.INTERVENED


def test_unguarded_stream_is_unchanged_in_content(make: Callable[..., Guardrail]) -> None:
    events = _answer("Hello ", "there, ", "how can I help?", tool=("f", ['{"a": 1}']))
    out, stream = _run(_pii(make), events)
    assert_well_formed(out)
    assert _fold(out)["content"] == _fold(events)["content"]
    assert stream.action is Action.NONE and "guardrail" not in out[-2]


def test_grounding_on_a_stream(make: Callable[..., Guardrail]) -> None:
    g = make(grounding=GroundingPolicy(grounding_threshold=0.5))
    ctx = GroundingContext("Check-in is from 3 pm and check-out is until 11 am.", "When is check-in?")
    good, _ = _run(g, _answer("Check-in is ", "from 3 pm."), grounding=ctx)
    assert _text(good) == "Check-in is from 3 pm."
    bad, stream = _run(g, _answer("Check-in is ", "from 9 pm, and parking costs 40 dollars."), grounding=ctx)
    assert_well_formed(bad)
    assert _fold(bad)["content"][0]["text"] == g.blocked_message("OUTPUT")
    assert stream.findings[0].kind == "GROUNDING"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_closing_early_closes_upstream(make: Callable[..., Guardrail], mode: str) -> None:
    closed = []

    async def upstream() -> Any:
        try:
            for e in _answer("x " * 200, "Project Zeus! ", "y " * 200):
                yield [e]
        finally:
            closed.append(True)

    async def go() -> list[Event]:
        g = make(stream_mode=mode, words=WordPolicy(words=["project zeus"]))
        return [e async for batch in guard_stream(g, upstream()) for e in batch]

    out = asyncio.run(go())
    assert_well_formed(out)
    assert closed == [True]
    assert json.dumps(out).count("refusal") == 1
