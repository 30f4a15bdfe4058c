"""Builders for the canonical events, so every provider emits the same shapes."""

from __future__ import annotations

from typing import Any

from .types import new_message_id

Event = dict[str, Any]


def message_start(model: str, usage: dict[str, Any], message_id: str | None = None) -> Event:
    message: dict[str, Any] = {
        "id": message_id or new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": dict(usage),
    }
    return {"type": "message_start", "message": message}


def message_end(stop_reason: str, usage: dict[str, Any], stop_sequence: str | None = None) -> list[Event]:
    delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
    return [{"type": "message_delta", "delta": delta, "usage": dict(usage)}, {"type": "message_stop"}]


def text_start(index: int) -> Event:
    return {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}


def text_delta(index: int, text: str) -> Event:
    return {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}


def tool_use_start(index: int, tool_id: str, name: str) -> Event:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    return {"type": "content_block_start", "index": index, "content_block": block}


def input_json_delta(index: int, partial_json: str) -> Event:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": partial_json},
    }


def block_stop(index: int) -> Event:
    return {"type": "content_block_stop", "index": index}
