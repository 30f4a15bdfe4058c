"""AWS Bedrock's Converse / ConverseStream API as an upstream, signed with SigV4 (or a Bedrock API key).

Requests are translated from the canonical form; the binary event stream (messageStart, contentBlockStart/Delta/Stop,
messageStop, metadata) is translated back into canonical events. Bedrock's exceptions arrive as HTTP errors before
the stream, or as exception messages inside it.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import orjson

from ..canonical import MessagesRequest
from ..canonical.events import EventWriter
from ..canonical.types import DocumentBlock, ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from ..errors import InternalError, InvalidRequest, Overloaded, RateLimited
from ..wire.sigv4 import Credentials, sign
from .aws import EventStreamDecoder
from .base import Event, EventBatch, ModelInfo, refuse_penalties, refuse_unknown_fields
from .upstream_http import UpstreamClient, UpstreamTimeout, read_batches, read_json

STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "model_context_window_exceeded": "model_context_window_exceeded",
}
STREAM_EXCEPTIONS = {"throttlingException": RateLimited, "serviceUnavailableException": Overloaded,
                     "modelStreamErrorException": InternalError, "validationException": InvalidRequest,
                     "modelTimeoutException": UpstreamTimeout}  # fmt: skip


class BedrockProvider:
    def __init__(self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float) -> None:
        self.name = name
        self.upstream_model = upstream_model
        self.base_url = base_url.rstrip("/")
        found = re.search(r"bedrock-runtime[.-]([a-z0-9-]+)\.amazonaws", base_url)
        self.region = found.group(1) if found else os.environ.get("AWS_REGION", "us-east-1")
        self.api_key = os.environ.get(api_key_env, "") if api_key_env else ""
        self.client = UpstreamClient(base_url, timeout, {})
        self.info = ModelInfo(name, f"{upstream_model} on Bedrock", "2025-01-01T00:00:00Z", owned_by="aws-bedrock")

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Closes this event loop's connections to the upstream."""
        await self.client.close()

    def _headers(self, path: str, body: bytes) -> dict[str, str]:
        if self.api_key:
            return {"authorization": f"Bearer {self.api_key}"}
        access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access or not secret:
            raise InternalError(f"no AWS credentials for {self.name}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        credentials = Credentials(access, secret, os.environ.get("AWS_SESSION_TOKEN"))
        return sign("POST", self.base_url + path, body, credentials, self.region)

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        path = f"/model/{quote(self.upstream_model, safe='')}/count-tokens"
        body = orjson.dumps({"input": {"converse": to_converse_request(request)}})
        response = await self.client.post(path, body, self.name, self._headers(path, body))
        return int((await read_json(response, self.name))["inputTokens"])

    async def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        path = f"/model/{quote(self.upstream_model, safe='')}/converse-stream"
        body = orjson.dumps(to_converse_request(request))
        response = await self.client.post(path, body, self.name, self._headers(path, body))
        reader, decoder = _EventReader(model), EventStreamDecoder()

        def events_of(data: bytes) -> Iterator[Event]:
            for message in decoder.feed(data):
                if message.headers.get(":message-type") == "exception":
                    kind = message.headers.get(":exception-type", "")
                    text = json.loads(message.payload or b"{}").get("message", kind)
                    raise STREAM_EXCEPTIONS.get(kind, InternalError)(f"upstream {self.name}: {kind}: {text}")
                payload = json.loads(message.payload) if message.payload else {}
                yield from reader.feed(message.headers.get(":event-type", ""), payload)

        try:
            async for batch in read_batches(response, self.name, events_of):
                yield batch
            yield reader.finish()
        finally:
            response.release()


def to_converse_request(request: MessagesRequest) -> dict[str, Any]:
    refuse_penalties(request, "Bedrock Converse")
    refuse_unknown_fields(request, "a Bedrock Converse upstream")
    if request.thinking is not None and request.thinking.type != "disabled":
        raise InvalidRequest("thinking cannot be forwarded to a Bedrock Converse upstream yet")
    messages = []
    for message in request.messages:
        if message.role == "system":
            raise InvalidRequest("mid-conversation system turns cannot be expressed in Bedrock Converse")
        content = [_block(b) for b in message.blocks() if b.type not in ("thinking", "redacted_thinking")]
        messages.append({"role": message.role, "content": content})
    body: dict[str, Any] = {"messages": messages}
    if request.system_text():
        body["system"] = [{"text": request.system_text()}]
    config: dict[str, Any] = {"maxTokens": request.max_tokens}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop_sequences:
        config["stopSequences"] = request.stop_sequences
    body["inferenceConfig"] = config
    if request.top_k is not None:
        body["additionalModelRequestFields"] = {"top_k": request.top_k}
    if request.output_config and request.output_config.format:
        raise InvalidRequest("output_config.format cannot be expressed in Bedrock Converse; use a forced tool instead")
    _tools(request, body)
    return body


def _block(block: Any) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ImageBlock):
        source = block.source
        if source.get("type") != "base64":
            raise InvalidRequest("only base64 images can be forwarded to Bedrock")
        return {
            "image": {
                "format": str(source.get("media_type", "")).split("/")[-1],
                "source": {"bytes": source.get("data")},
            }
        }
    if isinstance(block, DocumentBlock):
        source = block.source
        if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
            return {"document": {"format": "pdf", "name": "document", "source": {"bytes": source.get("data")}}}
        if source.get("type") == "text":
            data = base64.b64encode(str(source.get("data", "")).encode()).decode()
            return {"document": {"format": "txt", "name": "document", "source": {"bytes": data}}}
        raise InvalidRequest("this document source cannot be forwarded to Bedrock")
    if isinstance(block, ToolUseBlock):
        return {"toolUse": {"toolUseId": block.id, "name": block.name, "input": block.input}}
    if isinstance(block, ToolResultBlock):
        content = block.content
        items = (
            [{"text": content or ""}]
            if content is None or isinstance(content, str)
            else [_result_item(c) for c in content]
        )
        status = "error" if block.is_error else "success"
        return {"toolResult": {"toolUseId": block.tool_use_id, "content": items, "status": status}}
    raise InvalidRequest(f"{block.type} content cannot be expressed in Bedrock Converse")


def _result_item(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("type") == "text":
        return {"text": item.get("text", "")}
    raise InvalidRequest("only text tool results can be forwarded to Bedrock")


def _tools(request: MessagesRequest, body: dict[str, Any]) -> None:
    tools = request.tools or []
    if not tools:
        return
    for tool in tools:
        if not tool.is_client_tool:
            raise InvalidRequest(f"server tool {tool.name!r} cannot run through Bedrock Converse")
    specs = [
        {
            "toolSpec": {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "inputSchema": {"json": t.input_schema},
            }
        }
        for t in tools
    ]
    config: dict[str, Any] = {"tools": specs}
    choice = request.tool_choice
    if choice is not None and choice.type == "none":
        raise InvalidRequest("tool_choice none cannot be expressed in Bedrock Converse; leave out the tools instead")
    if choice is not None:
        config["toolChoice"] = {"auto": {"auto": {}}, "any": {"any": {}}, "tool": {"tool": {"name": choice.name}}}[
            choice.type
        ]
    body["toolConfig"] = config


class _EventReader:
    """ConverseStream events -> canonical events."""

    def __init__(self, model: str) -> None:
        self.out = EventWriter(model)
        self.blocks: dict[int, int] = {}  # Bedrock's content block index -> ours
        self.stop_reason: str | None = None

    def feed(self, kind: str, payload: dict[str, Any]) -> list[Event]:
        events = self.out.start()
        upstream = int(payload.get("contentBlockIndex") or 0)
        if kind == "contentBlockStart":
            tool = (payload.get("start") or {}).get("toolUse") or {}
            self.blocks[upstream], opened = self.out.tool(tool.get("toolUseId", ""), tool.get("name", ""))
            events += opened
        elif kind == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if "text" in delta:
                events += self.out.text(delta["text"])  # Bedrock sends no contentBlockStart for text
            elif "toolUse" in delta and upstream in self.blocks:
                events += self.out.tool_input(self.blocks[upstream], delta["toolUse"].get("input", ""))
        elif kind == "contentBlockStop":
            events += self.out.close()
        elif kind == "messageStop":
            self.stop_reason = payload.get("stopReason")
        elif kind == "metadata":
            u = payload.get("usage") or {}
            self.out.usage = {
                "input_tokens": u.get("inputTokens", 0),
                "output_tokens": u.get("outputTokens", 0),
                "cache_read_input_tokens": u.get("cacheReadInputTokens", 0),
                "cache_creation_input_tokens": u.get("cacheWriteInputTokens", 0),
            }
        return events

    def finish(self) -> list[Event]:
        if self.stop_reason is None:
            raise InternalError("the Bedrock stream ended before messageStop")
        return self.out.end(STOP_REASONS.get(self.stop_reason, "end_turn"))
