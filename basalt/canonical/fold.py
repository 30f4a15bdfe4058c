"""Fold a stream of canonical events into the Message a non-streaming call returns.

Every feature is written once, for streams; the non-streaming answer is this fold of the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..errors import InternalError
from .events import Event, EventBatch


async def fold_events(batches: AsyncIterator[EventBatch]) -> dict[str, Any]:
    message: dict[str, Any] | None = None
    partial_json: dict[int, str] = {}
    async for batch in batches:
        for event in batch:
            message = _fold(message, event, partial_json)
    if message is None:
        raise InternalError("the event stream was empty")
    return message


class Folder:
    """Folds events one at a time, for a stage that watches a stream pass instead of consuming it."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self._partial_json: dict[int, str] = {}

    def feed(self, event: Event) -> None:
        self.message = _fold(self.message, event, self._partial_json)


def _fold(message: dict[str, Any] | None, event: Event, partial_json: dict[int, str]) -> dict[str, Any]:
    kind = event["type"]
    if kind == "message_start":
        message = dict(event["message"])
        message["content"] = []
        message["usage"] = dict(message.get("usage") or {})
        return message
    if message is None:
        raise InternalError("the event stream did not start with message_start")
    if kind == "content_block_start":
        message["content"].append(dict(event["content_block"]))
    elif kind == "content_block_delta":
        _apply_delta(message["content"][event["index"]], event["delta"], event["index"], partial_json)
    elif kind == "content_block_stop":
        index = event["index"]
        if index in partial_json:
            block = message["content"][index]
            text = partial_json.pop(index)
            block["input"] = json.loads(text) if text else {}
    elif kind == "message_delta":
        message.update(event["delta"])
        message["usage"].update(event.get("usage") or {})
        if "guardrail" in event:  # the guardrail trace a caller asked for (basalt-guardrail-trace: enabled)
            message["guardrail"] = event["guardrail"]
    return message


def _apply_delta(block: dict[str, Any], delta: dict[str, Any], index: int, partial_json: dict[int, str]) -> None:
    kind = delta["type"]
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta["text"]
        if "logprobs" in delta:
            block.setdefault("logprobs", []).extend(delta["logprobs"])
    elif kind == "input_json_delta":
        partial_json[index] = partial_json.get(index, "") + delta["partial_json"]
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta["citation"])
