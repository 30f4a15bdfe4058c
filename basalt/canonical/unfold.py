"""A whole Message (a non-streaming upstream answer) as the events that `fold_events` folds back into it.

Text, thinking and tool input arrive as deltas, the way a stream carries them, so the output guardrails (which read
deltas) see a non-streaming answer exactly as they see a streamed one; blocks without incremental content
(redacted thinking, server tool results) start whole, as in Anthropic's streams."""

from __future__ import annotations

from typing import Any

import orjson

from .events import Event, EventBatch

_DELTAS: dict[str, tuple[str, str, Any]] = {  # block type -> (field, delta type, the field's empty value)
    "text": ("text", "text_delta", ""),
    "thinking": ("thinking", "thinking_delta", ""),
    "tool_use": ("input", "input_json_delta", {}),
    "server_tool_use": ("input", "input_json_delta", {}),
    "mcp_tool_use": ("input", "input_json_delta", {}),
}


def unfold_message(message: dict[str, Any], model: str) -> EventBatch:
    start = {**message, "model": model, "content": [], "stop_reason": None, "stop_sequence": None}
    events: EventBatch = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block)
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events.append({"type": "message_delta", "delta": delta, "usage": dict(message.get("usage") or {})})
    events.append({"type": "message_stop"})
    return events


def _block_events(index: int, block: dict[str, Any]) -> list[Event]:
    spec = _DELTAS.get(block.get("type", ""))
    if spec is None or spec[0] not in block:
        return [_start(index, block), {"type": "content_block_stop", "index": index}]
    field, delta_type, empty = spec
    value = block[field]
    events = [_start(index, {**block, field: empty})]
    if field == "input":
        events.append(_delta(index, {"type": delta_type, "partial_json": orjson.dumps(value).decode()}))
    elif value:
        events.append(_delta(index, {"type": delta_type, field: value}))
    if block.get("type") == "thinking" and "signature" in block:
        events[0]["content_block"]["signature"] = ""
        events.append(_delta(index, {"type": "signature_delta", "signature": block["signature"]}))
    events.append({"type": "content_block_stop", "index": index})
    return events


def _start(index: int, block: dict[str, Any]) -> Event:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> Event:
    return {"type": "content_block_delta", "index": index, "delta": delta}
