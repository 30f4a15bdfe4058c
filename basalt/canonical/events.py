"""Builders for the canonical events, so every provider emits the same shapes."""

from __future__ import annotations

from typing import Any

from .types import new_message_id

Event = dict[str, Any]
# The events that are ready together: one network read's worth from an upstream, one step's from the local engine.
# Streams carry these rather than single events, so each step of the pipeline runs once per read, not once per token;
# a batch is never empty.
EventBatch = list[Event]


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


def text_delta(index: int, text: str, logprobs: list[dict[str, Any]] | None = None) -> Event:
    """`logprobs`, where they were asked for: the entries of the tokens behind `text` (OpenAI's Chat Completions
    shape, see providers/local_logprobs.py), which the OpenAI dialects encode and the others leave out."""
    delta: dict[str, Any] = {"type": "text_delta", "text": text}
    if logprobs is not None:
        delta["logprobs"] = logprobs
    return {"type": "content_block_delta", "index": index, "delta": delta}


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


class EventWriter:
    """Builds a well-formed canonical event stream from an upstream's pieces: message_start exactly once, gapless
    block indices, one block open at a time (a new block closes the previous one), and every block stopped."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.usage: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0}
        self._started = False
        self._next = 0
        self._text: int | None = None  # the open block, when it is a text block
        self._open: int | None = None  # the open block, when it is a tool_use block

    def start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        return [message_start(self.model, self.usage)]

    def text(self, text: str) -> list[Event]:
        if self._text is None:  # a text block opens (closing a tool_use block, if one is open)
            events = self.start() + self.close()
            self._text = self._new_index()
            return [*events, text_start(self._text), text_delta(self._text, text)]
        return [text_delta(self._text, text)]

    def tool(self, tool_id: str, name: str) -> tuple[int, list[Event]]:
        """Open a tool_use block; returns its index for the argument deltas."""
        events = self.start() + self.close()
        index = self._open = self._new_index()
        return index, [*events, tool_use_start(index, tool_id, name)]

    def tool_input(self, index: int, partial_json: str) -> list[Event]:
        return [input_json_delta(index, partial_json)]

    def close(self) -> list[Event]:
        """Stop the open block, if any."""
        index = self._text if self._text is not None else self._open
        self._text = self._open = None
        return [] if index is None else [block_stop(index)]

    def end(self, stop_reason: str, stop_sequence: str | None = None) -> list[Event]:
        return self.start() + self.close() + message_end(stop_reason, self.usage, stop_sequence)

    def _new_index(self) -> int:
        index, self._next = self._next, self._next + 1
        return index
