"""Google Gemini's generateContent / streamGenerateContent API as an upstream.

Requests are translated from the canonical form (system instruction, contents with user/model roles, function
declarations and calls, inline images, generation config); the streamed GenerateContentResponse chunks are translated
back into canonical events. What Gemini cannot express (documents other than inline data, thinking with signatures
from another provider, server tools) is refused with a 400.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from ..canonical import MessagesRequest, new_tool_use_id
from ..canonical.events import EventWriter
from ..canonical.types import ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from ..errors import InternalError, InvalidRequest
from .base import Event, EventBatch, ModelInfo, refuse_logprobs, refuse_unknown_fields
from .upstream_http import UpstreamClient, read_json

STOP_REASONS = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens"}
REFUSALS = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}


class GeminiProvider:
    def __init__(self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float) -> None:
        self.name = name
        self.upstream_model = upstream_model
        key = os.environ.get(api_key_env or "GEMINI_API_KEY", "")
        self.client = UpstreamClient(base_url, timeout, {"x-goog-api-key": key} if key else {})
        self.info = ModelInfo(name, f"{upstream_model} via {base_url}", "2025-01-01T00:00:00Z", owned_by="google")

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Closes this event loop's connections to the upstream."""
        await self.client.close()

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        body = to_gemini_request(request)
        path = f"/v1beta/models/{self.upstream_model}:countTokens"
        response = await self.client.post(
            path, {"generateContentRequest": {"model": f"models/{self.upstream_model}", **body}}, self.name
        )
        return int((await read_json(response, self.name))["totalTokens"])

    def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        path = f"/v1beta/models/{self.upstream_model}:streamGenerateContent?alt=sse"
        return self.client.events(path, to_gemini_request(request), self.name, _ChunkReader(model))


def to_gemini_request(request: MessagesRequest) -> dict[str, Any]:
    refuse_unknown_fields(request, "a Gemini upstream")
    refuse_logprobs(request, "a Gemini upstream")
    if request.thinking is not None and request.thinking.type != "disabled":
        raise InvalidRequest("thinking with budget_tokens cannot be forwarded to a Gemini upstream yet")
    names: dict[str, str] = {}  # tool_use id -> function name, since Gemini's function responses carry names
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            raise InvalidRequest("mid-conversation system turns cannot be expressed in the Gemini API")
        role = "model" if message.role == "assistant" else "user"
        parts = [
            _part(block, names) for block in message.blocks() if block.type not in ("thinking", "redacted_thinking")
        ]
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents, "generationConfig": _generation_config(request)}
    if request.system_text():
        body["systemInstruction"] = {"parts": [{"text": request.system_text()}]}
    _tools(request, body)
    return body


def _part(block: Any, names: dict[str, str]) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ImageBlock):
        if block.source.get("type") != "base64":
            raise InvalidRequest("only base64 images can be forwarded to a Gemini upstream")
        return {"inlineData": {"mimeType": block.source.get("media_type"), "data": block.source.get("data")}}
    if isinstance(block, ToolUseBlock):
        names[block.id] = block.name
        return {"functionCall": {"name": block.name, "args": block.input}}
    if isinstance(block, ToolResultBlock):
        if block.tool_use_id not in names:
            raise InvalidRequest(f"tool_result {block.tool_use_id!r} answers no earlier tool_use in the conversation")
        content = block.content if isinstance(block.content, str) or block.content is None else _texts(block.content)
        key = "error" if block.is_error else "result"
        return {"functionResponse": {"name": names[block.tool_use_id], "response": {key: content or ""}}}
    raise InvalidRequest(f"{block.type} content cannot be expressed in the Gemini API")


def _texts(items: list[dict[str, Any]]) -> str:
    if any(item.get("type") != "text" for item in items):
        raise InvalidRequest("only text tool results can be forwarded to a Gemini upstream")
    return "\n".join(str(item.get("text", "")) for item in items)


def _generation_config(request: MessagesRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
    optional = {
        "temperature": request.temperature,
        "topP": request.top_p,
        "topK": request.top_k,
        "seed": request.seed,
        "frequencyPenalty": request.frequency_penalty,
        "presencePenalty": request.presence_penalty,
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    if request.stop_sequences:
        config["stopSequences"] = request.stop_sequences
    fmt = request.output_config.format if request.output_config else None
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = fmt.json_schema
    return config


def _tools(request: MessagesRequest, body: dict[str, Any]) -> None:
    tools = request.tools or []
    for tool in tools:
        if not tool.is_client_tool:
            raise InvalidRequest(f"server tool {tool.name!r} cannot run through a Gemini upstream")
    if tools:
        declarations = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "parametersJsonSchema": t.input_schema,
            }
            for t in tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    choice = request.tool_choice
    if choice is not None:
        mode = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}[choice.type]
        config: dict[str, Any] = {"mode": mode}
        if choice.type == "tool":
            config["allowedFunctionNames"] = [choice.name]
        body["toolConfig"] = {"functionCallingConfig": config}


class _ChunkReader:
    """GenerateContentResponse chunks -> canonical events."""

    def __init__(self, model: str) -> None:
        self.out = EventWriter(model)
        self.called = False
        self.finish_reason: str | None = None

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        events = self.out.start()
        usage = chunk.get("usageMetadata")
        if usage:
            cached = usage.get("cachedContentTokenCount") or 0
            self.out.usage = {
                "input_tokens": (usage.get("promptTokenCount") or 0) - cached,
                "output_tokens": (usage.get("candidatesTokenCount") or 0) + (usage.get("thoughtsTokenCount") or 0),
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": 0,
            }
        for candidate in chunk.get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if part.get("thought"):
                    continue  # Gemini's thought summaries carry no signature another turn could replay
                if part.get("text"):
                    events += self.out.text(part["text"])
                elif "functionCall" in part:
                    events += self._call(part["functionCall"])
            if candidate.get("finishReason"):
                self.finish_reason = candidate["finishReason"]
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            self.finish_reason = "SAFETY"
        return events

    def _call(self, call: dict[str, Any]) -> list[Event]:
        """Gemini sends each function call whole, in one part."""
        self.called = True
        index, events = self.out.tool(call.get("id") or new_tool_use_id(), call.get("name", ""))
        return events + self.out.tool_input(index, json.dumps(call.get("args") or {})) + self.out.close()

    def finish(self) -> list[Event]:
        if self.finish_reason is None:
            raise InternalError("the upstream stream ended before it finished")
        if self.finish_reason in REFUSALS:
            stop_reason = "refusal"
        elif self.called and self.finish_reason == "STOP":
            stop_reason = "tool_use"
        else:
            stop_reason = STOP_REASONS.get(self.finish_reason, "end_turn")
        return self.out.end(stop_reason)
