import asyncio
from collections.abc import AsyncIterator
from typing import Any

from basalt.canonical import fold_events


async def stream(events: list[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
    for i in range(0, len(events), 2):  # batches, as providers stream them: folding goes across and within them
        yield events[i : i + 2]


def test_fold_text_thinking_and_tool_use() -> None:
    events = [
        {
            "type": "message_start",
            "message": {"id": "msg_1", "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}},
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "lo"}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        },
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"x": '}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "[1]}"}},
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]
    message = asyncio.run(fold_events(stream(events)))
    assert message["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Hello"},
        {"type": "tool_use", "id": "t", "name": "f", "input": {"x": [1]}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 5, "output_tokens": 9}


def test_unfold_then_fold_gives_back_the_message_and_streams_the_content_as_deltas() -> None:
    from basalt.canonical.unfold import unfold_message

    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Hi", "citations": [{"type": "char_location", "cited_text": "x"}]},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2.5, None]}},
            {"type": "text", "text": ""},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 9},
        "context_management": {"applied_edits": []},
    }
    events = unfold_message(message, "asked-for")
    assert asyncio.run(fold_events(stream(events))) == {**message, "model": "asked-for"}
    kinds = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert kinds == ["thinking_delta", "signature_delta", "text_delta", "input_json_delta", "input_json_delta"]
    assert all(
        e["content_block"].get("text", "") == "" for e in events if e["type"] == "content_block_start"
    )  # text only in deltas, where the output guardrails read it
