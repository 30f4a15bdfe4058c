"""Prompt and answer content as the OpenTelemetry GenAI conventions write it on a span (opt-in): the JSON of
`gen_ai.system_instructions`, `gen_ai.input.messages` and `gen_ai.output.messages`.

Each message is `{"role", "parts": [...]}`; a part is `{"type": "text", "content"}`, `{"type": "tool_call", "id",
"name", "arguments"}`, `{"type": "tool_call_response", "id", "response"}` or `{"type": "reasoning", "content"}`.
Images and documents are named by their type only: their bytes do not belong in a trace."""

from __future__ import annotations

from typing import Any

import orjson

from ..canonical import MessagesRequest

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_call"}


def system_instructions(request: MessagesRequest) -> str | None:
    text = request.system_text()
    return _json([{"type": "text", "content": text}]) if text else None


def input_messages(request: MessagesRequest) -> str:
    messages = []
    for message in request.messages:
        content = message.content
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else [_dump(b) for b in content]
        messages.append({"role": message.role, "parts": [_part(block) for block in blocks]})
    return _json(messages)


def output_messages(message: dict[str, Any]) -> str:
    """The answer as the caller got it (the folded events, after the output guardrails)."""
    reason = str(message.get("stop_reason") or "")
    parts = [_part(block) for block in message.get("content") or ()]
    return _json([{"role": "assistant", "parts": parts, "finish_reason": FINISH_REASONS.get(reason, reason)}])


def _dump(block: Any) -> dict[str, Any]:
    return block.model_dump(mode="json", exclude_none=True) if hasattr(block, "model_dump") else dict(block)


def _part(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "content": block.get("text", "")}
    if kind in ("tool_use", "server_tool_use"):
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": block.get("tool_use_id"), "response": _result(block)}
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking", "")}
    return {"type": str(kind)}


def _result(block: dict[str, Any]) -> Any:
    content = block.get("content")
    if isinstance(content, list):
        return [_part(part) if isinstance(part, dict) else part for part in content]
    return content


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
