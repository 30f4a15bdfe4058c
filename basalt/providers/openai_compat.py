"""OpenAI Chat Completions upstreams: OpenAI itself and any compatible server (vLLM, Ollama, llama-server, Basalt).

Requests are translated from the canonical form; the upstream's chunks are translated back into canonical events.
Anything Chat Completions cannot express (documents, thinking, server tools, cache_control TTLs) is refused with a
400 rather than dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from ..canonical import MessagesRequest
from ..canonical.events import EventWriter
from ..canonical.types import ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from ..errors import InternalError, InvalidRequest
from .base import Event, EventBatch, ModelInfo, refuse_unknown_fields
from .upstream_http import UpstreamClient, read_json

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


class OpenAICompatProvider:
    def __init__(self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float) -> None:
        self.name = name
        self.upstream_model = upstream_model
        key = os.environ.get(api_key_env or "OPENAI_API_KEY", "")
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self.client = UpstreamClient(base_url, timeout, headers)
        self.info = ModelInfo(name, f"{upstream_model} via {base_url}", "2025-01-01T00:00:00Z", owned_by="openai")

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Closes this event loop's connections to the upstream."""
        await self.client.close()

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        raise InvalidRequest(f"model {model} is served by a Chat Completions upstream, which cannot count tokens")

    def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        body = to_chat_request(request, self.upstream_model)  # what Chat Completions cannot express fails here
        if body["stream"]:
            return self.client.events("/chat/completions", body, self.name, _ChunkReader(model))
        return self._whole(body, model)

    async def _whole(self, body: dict[str, Any], model: str) -> AsyncIterator[EventBatch]:
        # The caller wants one answer: ask the upstream for one too (one JSON body instead of a chunk per token), and
        # read it as a single chunk.
        response = await self.client.post("/chat/completions", body, self.name)
        completion = await read_json(response, self.name)
        reader = _ChunkReader(model)
        yield reader.feed(as_chunk(completion)) + reader.finish()


def to_chat_request(request: MessagesRequest, upstream_model: str) -> dict[str, Any]:
    refuse_unknown_fields(request, "a Chat Completions upstream")
    if request.thinking is not None and request.thinking.type != "disabled":
        raise InvalidRequest("thinking cannot be expressed in the Chat Completions API")
    messages: list[dict[str, Any]] = []
    if request.system_text():
        messages.append({"role": "system", "content": request.system_text()})
    for message in request.messages:
        messages.extend(_messages(message.role, message.content))
    body: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_completion_tokens": request.max_tokens,
        "stream": bool(request.stream),
    }
    if request.stream:
        body["stream_options"] = {"include_usage": True}
    for key in ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.top_k is not None:
        raise InvalidRequest("top_k cannot be expressed in the Chat Completions API")
    if request.stop_sequences:
        body["stop"] = request.stop_sequences
    if request.ignore_eos:
        body["ignore_eos"] = True
    _tools(request, body)
    fmt = request.output_config.format if request.output_config else None
    if fmt is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt.json_schema}}
    return body


def _messages(role: str, blocks: str | list[Any]) -> list[dict[str, Any]]:
    if isinstance(blocks, str):  # most turns: plain text, passed on as it is (building a block for it costs)
        return [{"role": role, "content": (blocks or None) if role == "assistant" else blocks}]
    if role == "system":
        return [{"role": "system", "content": "\n\n".join(b.text for b in blocks if isinstance(b, TextBlock))}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock) and role == "user":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block.source)}})
        elif isinstance(block, ToolUseBlock):
            arguments = json.dumps(block.input)
            calls.append({"id": block.id, "type": "function", "function": {"name": block.name, "arguments": arguments}})
        elif isinstance(block, ToolResultBlock):
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": _tool_text(block)})
        elif block.type in ("thinking", "redacted_thinking"):
            continue  # earlier reasoning is not replayed to another provider
        else:
            raise InvalidRequest(f"{block.type} content cannot be expressed in the Chat Completions API")
    if role == "assistant":
        message: dict[str, Any] = {"role": "assistant", "content": "".join(p["text"] for p in parts) or None}
        if calls:
            message["tool_calls"] = calls
        return [*out, message]
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts) if only_text else parts})
    return out


def _image_url(source: dict[str, Any]) -> str:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if source.get("type") == "url":
        return str(source.get("url"))
    raise InvalidRequest(f"image source {source.get('type')!r} cannot be expressed in the Chat Completions API")


def _tool_text(block: ToolResultBlock) -> str:
    if block.content is None or isinstance(block.content, str):
        return block.content or ""
    texts = []
    for item in block.content:
        if item.get("type") != "text":
            raise InvalidRequest("only text tool results can be expressed in the Chat Completions API")
        texts.append(str(item.get("text", "")))
    return "\n".join(texts)


def _tools(request: MessagesRequest, body: dict[str, Any]) -> None:
    tools = request.tools or []
    for tool in tools:
        if not tool.is_client_tool:
            raise InvalidRequest(f"server tool {tool.name!r} cannot run through a Chat Completions upstream")
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    **({"description": t.description} if t.description else {}),
                    "parameters": t.input_schema,
                },
            }
            for t in tools
        ]
    choice = request.tool_choice
    if choice is None:
        return
    body["tool_choice"] = {
        "auto": "auto",
        "none": "none",
        "any": "required",
        "tool": {"type": "function", "function": {"name": choice.name}},
    }[choice.type]
    if choice.disable_parallel_tool_use and tools:
        body["parallel_tool_calls"] = False


def as_chunk(completion: dict[str, Any]) -> dict[str, Any]:
    """A whole chat.completion in the shape of one chunk, so one reader serves both."""
    choices = []
    for choice in completion.get("choices") or []:
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls")
        if calls:
            message["tool_calls"] = [{**call, "index": i} for i, call in enumerate(calls)]
        choices.append(
            {"index": choice.get("index", 0), "delta": message, "finish_reason": choice.get("finish_reason")}
        )
    return {"choices": choices, "usage": completion.get("usage")}


class _ChunkReader:
    """Chat completion chunks -> canonical events."""

    def __init__(self, model: str) -> None:
        self.out = EventWriter(model)
        self.tool_blocks: dict[int, int] = {}  # upstream tool call index -> our block index
        self.finish_reason: str | None = None

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        events = self.out.start()
        usage = chunk.get("usage")
        if usage:
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            self.out.usage = {
                "input_tokens": (usage.get("prompt_tokens") or 0) - cached,
                "output_tokens": usage.get("completion_tokens") or 0,
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": 0,
            }
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:
                text = delta.get("content")
                if text:
                    events += self.out.text(text)
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
        return self.out.end(STOP_REASONS.get(self.finish_reason, "end_turn"))
