"""The OpenAI Chat Completions dialect: POST /v1/chat/completions, streaming and not."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request

from ..canonical import fold_events
from ..errors import BasaltError
from ..http.plumbing import CALL, EventStreamResponse, first_and_rest, read_body, request_id, unless_disconnected
from ..providers.base import Event

if TYPE_CHECKING:
    from ..wiring import Platform
from ..flow import Call
from .anthropic import json_response
from .calls import call_options
from .errors import openai_error
from .openai_types import parse_chat_request, to_canonical
from .ratelimits import openai_headers

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


def completion_id(message_id: str) -> str:
    return "chatcmpl-" + message_id.removeprefix("msg_")


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cached + (usage.get("cache_creation_input_tokens") or 0)
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def to_completion(message: dict[str, Any], model: str) -> dict[str, Any]:
    text = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {"name": b["name"], "arguments": orjson.dumps(b["input"]).decode()},
        }
        for b in message["content"]
        if b["type"] == "tool_use"
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
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
                "finish_reason": FINISH_REASONS.get(message.get("stop_reason") or "end_turn", "stop"),
                "logprobs": None,
            }
        ],
        "usage": openai_usage(message["usage"]),
        "system_fingerprint": None,
        **({"guardrail": message["guardrail"]} if "guardrail" in message else {}),
    }


class ChunkEncoder:
    """Turns canonical events into chat.completion.chunk lines."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.created = int(time.time())
        self.id = ""
        self.usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}  # content block index -> tool call index
        self._around = (b"", b"")  # a text delta's chunk, before and after its JSON-encoded text

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None, guardrail: Any = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
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
            before, _, after = self._chunk({"content": "\x00"}).rpartition(b'"\\u0000"')
            self._around = (before, after)
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            block = event["content_block"]
            index = self.tool_index[event["index"]] = len(self.tool_index)
            call = {
                "index": index,
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": ""},
            }
            return self._chunk({"tool_calls": [call]})
        if kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                return self._chunk({"content": delta["text"]})
            if delta["type"] == "input_json_delta":
                call = {"index": self.tool_index[event["index"]], "function": {"arguments": delta["partial_json"]}}
                return self._chunk({"tool_calls": [call]})
            return b""
        if kind == "message_delta":
            self.usage.update(event.get("usage") or {})
            reason = FINISH_REASONS.get(event["delta"].get("stop_reason") or "end_turn", "stop")
            return self._chunk({}, reason, event.get("guardrail"))
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
                    "usage": openai_usage(self.usage),
                }
                tail = b"data: " + orjson.dumps(usage_chunk) + b"\n\n"
            return tail + b"data: [DONE]\n\n"
        return b""

    def error(self, exc: BasaltError) -> bytes:
        return b"data: " + orjson.dumps(openai_error(exc)) + b"\n\n"


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    limit = platform.settings.max_body_bytes
    control, flow = platform.control, platform.flow

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        principal = await control.authenticate(request.headers, "chat.completions")
        chat = parse_chat_request(await read_body(request, limit))
        options = call_options(request.headers)
        call = Call(principal, to_canonical(chat), "chat.completions", request_id(request), options, "openai")
        request.scope[CALL] = call  # for the HTTP edge's access log and request metrics, once the response is sent
        events = await first_and_rest(await flow.answer(call))
        headers = openai_headers(call.ticket.limits) if call.ticket else {}
        if chat.stream:
            include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
            encoder = ChunkEncoder(chat.model, include_usage)
            return EventStreamResponse(events, encoder.encode, encoder.error, headers)
        message = await unless_disconnected(request, fold_events(events))
        return json_response(to_completion(message, chat.model), headers=headers)

    return router
