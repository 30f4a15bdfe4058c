"""tool_choice auto on the local model: text streams as it comes, a `<tool_call>` becomes a tool_use block."""

from __future__ import annotations

from typing import Any

from basalt.providers.local import _TextOrToolCall


def run(pieces: list[str], stop_reason: str = "end_turn") -> tuple[list[dict[str, Any]], bool]:
    blocks = _TextOrToolCall()
    events: list[dict[str, Any]] = []
    for piece in pieces:
        events += blocks.feed(piece)
    return events + blocks.close(stop_reason), blocks.is_tool_call


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta" and "text" in e["delta"])


def test_plain_text_streams_through_holding_back_only_a_possible_tag() -> None:
    blocks = _TextOrToolCall()
    assert text_of(blocks.feed("Hello <to")) == "Hello "  # "<to" might begin "<tool_call>"
    assert text_of(blocks.feed("day> there")) == "<today> there"
    events, is_call = run(["Sunny ", "and warm."])
    assert text_of(events) == "Sunny and warm." and not is_call


def test_a_call_split_across_pieces_becomes_a_tool_use_block_after_the_text() -> None:
    pieces = ["Sure.\n<tool", '_call>{"name": "get_weather", ', '"arguments": {"city": "Oslo"}}</tool_call>']
    events, is_call = run(pieces)
    assert is_call
    assert text_of(events) == "Sure.\n"  # released before the tag began; only the tag itself is held back
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [s["content_block"]["type"] for s in starts] == ["text", "tool_use"]
    assert starts[1]["index"] == 1 and starts[1]["content_block"]["name"] == "get_weather"
    inputs = [e["delta"]["partial_json"] for e in events if "partial_json" in e.get("delta", {})]
    assert inputs == ['{"city": "Oslo"}']


def test_a_call_alone_is_block_zero_and_a_cut_short_call_is_text() -> None:
    events, is_call = run(['<tool_call>{"name": "f", "arguments": {}}</tool_call>'])
    assert is_call and events[0]["index"] == 0 and events[0]["content_block"]["type"] == "tool_use"
    events, is_call = run(['<tool_call>{"name": "f", "argu'], stop_reason="max_tokens")
    assert not is_call and text_of(events) == '<tool_call>{"name": "f", "argu'
