"""Chat Completions answers: a chat.completion and its chunks, mapped to and from the canonical answer.

Encoding (canonical -> Chat Completions) is what the OpenAI dialect sends a caller: `encode_completion` for a folded
message, `ChunkEncoder` for the event stream. Decoding is what the Chat Completions provider does with an upstream's
answer: `ChunkDecoder` for its chunks, `decode_completion` for a whole completion. The finish reasons and the usage
have one table and one pair of functions for both directions.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..canonical.events import Event, EventWriter
from ..errors import InternalError
from .chat_requests import tool_call

# canonical stop_reason -> Chat Completions finish_reason. Several stop reasons share a finish reason; reading one
# back gives the first stop reason listed for it, so the table's order is its inverse.
_REASONS = (
    ("end_turn", "stop"),
    ("max_tokens", "length"),
    ("tool_use", "tool_calls"),
    ("refusal", "content_filter"),
    ("stop_sequence", "stop"),
    ("model_context_window_exceeded", "length"),
    ("pause_turn", "stop"),
)
FINISH_REASONS = dict(_REASONS)
STOP_REASONS = {finish: stop for stop, finish in reversed(_REASONS)}


def encode_stop_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def decode_finish_reason(finish_reason: str) -> str:
    return STOP_REASONS.get(finish_reason, "end_turn")


# Usage: Chat Completions counts cached prompt tokens inside prompt_tokens; canonical input_tokens leaves them out.


def encode_usage(usage: dict[str, Any]) -> dict[str, Any]:
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cached + (usage.get("cache_creation_input_tokens") or 0)
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def decode_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Chat Completions does not say which prompt tokens were written to a cache, so none were."""
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "input_tokens": (usage.get("prompt_tokens") or 0) - cached,
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def completion_id(message_id: str) -> str:
    return "chatcmpl-" + message_id.removeprefix("msg_")


# Encoding, for the OpenAI dialect.


def encode_completion(message: dict[str, Any], model: str) -> dict[str, Any]:
    """A folded canonical message as a chat.completion."""
    text = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    calls = [
        tool_call(b["id"], b["name"], orjson.dumps(b["input"]).decode())
        for b in message["content"]
        if b["type"] == "tool_use"
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    found = [entry for b in message["content"] if b["type"] == "text" for entry in b.get("logprobs", ())]
    asked = any("logprobs" in b for b in message["content"])
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": completion_id(message["id"]),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": encode_stop_reason(message.get("stop_reason")),
                "logprobs": {"content": found, "refusal": None} if asked else None,
            }
        ],
        "usage": encode_usage(message["usage"]),
        "system_fingerprint": None,
        **({"guardrail": message["guardrail"]} if "guardrail" in message else {}),
    }


class ChunkEncoder:
    """Turns canonical events into chat.completion.chunk lines (errors are the dialect's to encode)."""

    def __init__(self, model: str, include_usage: bool, logprobs: bool = False) -> None:
        self.model = model
        self.include_usage = include_usage
        self.logprobs = logprobs  # text deltas carry log-probabilities: each chunk is encoded whole
        self.created = int(time.time())
        self.id = ""
        self.usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}  # content block index -> tool call index
        self._around = (b"", b"")  # a text delta's chunk, before and after its JSON-encoded text

    def _chunk(
        self, delta: dict[str, Any], finish: str | None = None, guardrail: Any = None, logprobs: Any = None
    ) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
        }
        if self.include_usage:
            chunk["usage"] = None
        if guardrail is not None:
            chunk["guardrail"] = guardrail
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def encode(self, event: Event) -> bytes:
        kind = event["type"]
        if kind == "content_block_delta" and event["delta"]["type"] == "text_delta" and self._around[0]:
            # Every token of a stream: the chunk around the text is the same each time, so it is encoded once.
            before, after = self._around
            return before + orjson.dumps(event["delta"]["text"]) + after
        if kind == "message_start":
            self.id = completion_id(event["message"]["id"])
            self.usage = dict(event["message"].get("usage") or {})
            if not self.logprobs:
                before, _, after = self._chunk({"content": "\x00"}).rpartition(b'"\\u0000"')
                self._around = (before, after)
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            block = event["content_block"]
            index = self.tool_index[event["index"]] = len(self.tool_index)
            call = {"index": index, **tool_call(block["id"], block["name"], "")}
            return self._chunk({"tool_calls": [call]})
        if kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                found = delta.get("logprobs")
                logprobs = {"content": found, "refusal": None} if found is not None else None
                return self._chunk({"content": delta["text"]}, logprobs=logprobs)
            if delta["type"] == "input_json_delta":
                call = {"index": self.tool_index[event["index"]], "function": {"arguments": delta["partial_json"]}}
                return self._chunk({"tool_calls": [call]})
            return b""
        if kind == "message_delta":
            self.usage.update(event.get("usage") or {})
            return self._chunk({}, encode_stop_reason(event["delta"].get("stop_reason")), event.get("guardrail"))
        if kind == "message_stop":
            tail = b""
            if self.include_usage:
                usage_chunk = {
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": encode_usage(self.usage),
                }
                tail = b"data: " + orjson.dumps(usage_chunk) + b"\n\n"
            return tail + b"data: [DONE]\n\n"
        return b""


# Decoding, for the Chat Completions provider.


def decode_completion(completion: dict[str, Any], model: str) -> list[Event]:
    """A whole chat.completion as canonical events: read as a single chunk, so one decoder serves both."""
    decoder = ChunkDecoder(model)
    return decoder.feed(_as_chunk(completion)) + decoder.finish()


def _as_chunk(completion: dict[str, Any]) -> dict[str, Any]:
    choices = []
    for choice in completion.get("choices") or []:
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls")
        if calls:
            message["tool_calls"] = [{**call, "index": i} for i, call in enumerate(calls)]
        choices.append(
            {
                "index": choice.get("index", 0),
                "delta": message,
                "finish_reason": choice.get("finish_reason"),
                "logprobs": choice.get("logprobs"),
            }
        )
    return {"choices": choices, "usage": completion.get("usage")}


class ChunkDecoder:
    """Chat completion chunks -> canonical events (an upstream_http.ChunkReader)."""

    def __init__(self, model: str) -> None:
        self.out = EventWriter(model)
        self.tool_blocks: dict[int, int] = {}  # upstream tool call index -> our block index
        self.finish_reason: str | None = None

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        events = self.out.start()
        usage = chunk.get("usage")
        if usage:
            self.out.usage = decode_usage(usage)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:
                text = delta.get("content")
                if text:
                    events += self.out.text(text)
                    found = (choice.get("logprobs") or {}).get("content")
                    if isinstance(found, list):  # an upstream's log-probabilities, in the canonical entries' shape
                        events[-1]["delta"]["logprobs"] = found
                for call in delta.get("tool_calls") or ():
                    events += self._tool(call)
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = reason
        return events

    def _tool(self, call: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        upstream_index = int(call.get("index", 0))
        function = call.get("function") or {}
        if upstream_index not in self.tool_blocks:
            tool_id = call.get("id") or f"toolu_{upstream_index}"
            self.tool_blocks[upstream_index], events = self.out.tool(tool_id, function.get("name", ""))
        if function.get("arguments"):
            events += self.out.tool_input(self.tool_blocks[upstream_index], function["arguments"])
        return events

    def finish(self) -> list[Event]:
        if self.finish_reason is None:
            raise InternalError("the upstream stream ended before it finished")
        return self.out.end(decode_finish_reason(self.finish_reason))
