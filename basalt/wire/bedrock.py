"""Bedrock's Converse wire format <-> the canonical Messages form, both directions.

Client side (the Bedrock provider): `to_converse_request` writes a canonical request as a Converse body, and
`ConverseStreamReader` reads ConverseStream events back into canonical events. Server side (the Bedrock dialect):
`ConverseBody` (the request model, in `bedrock_types.py`) reads a Converse body into a canonical request,
`ConverseStreamWriter` writes canonical events as ConverseStream events, and `to_converse_response` a folded message
as a Converse response. The stop reason and usage mappings below serve both, so neither direction keeps an inverse
copy of the other.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from ..canonical import MessagesRequest
from ..canonical.events import Event, EventWriter
from ..canonical.types import DocumentBlock, ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from ..errors import InternalError, InvalidRequest
from .bedrock_types import ConverseBody

__all__ = [
    "ConverseBody",
    "ConverseStreamReader",
    "ConverseStreamWriter",
    "converse_usage",
    "guardrail_trace",
    "stop_reason_of",
    "to_converse_request",
    "to_converse_response",
]

# Bedrock's stop reason -> the canonical one. Both guardrail reasons are a refusal; the way back tells them apart by
# whether a Basalt guardrail intervened (see `stop_reason_of`).
STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "model_context_window_exceeded": "model_context_window_exceeded",
}
_BEDROCK_STOP = {v: k for k, v in STOP_REASONS.items() if v != "refusal"} | {"pause_turn": "end_turn"}


def stop_reason_of(canonical: str | None, guardrail_intervened: bool) -> str:
    """The Bedrock stop reason for a canonical one; a refusal is `guardrail_intervened` when a guardrail made it."""
    if canonical == "refusal":
        return "guardrail_intervened" if guardrail_intervened else "content_filtered"
    return _BEDROCK_STOP.get(canonical or "end_turn", "end_turn")


def canonical_usage(usage: dict[str, Any]) -> dict[str, int]:
    """Bedrock's TokenUsage -> canonical usage (Anthropic's field names)."""
    return {
        "input_tokens": int(usage.get("inputTokens") or 0),
        "output_tokens": int(usage.get("outputTokens") or 0),
        "cache_read_input_tokens": int(usage.get("cacheReadInputTokens") or 0),
        "cache_creation_input_tokens": int(usage.get("cacheWriteInputTokens") or 0),
    }


def converse_usage(usage: dict[str, Any]) -> dict[str, int]:
    """Canonical usage -> Bedrock's TokenUsage; totalTokens counts the cached tokens too, as Bedrock's does."""
    read = int(usage.get("cache_read_input_tokens") or 0)
    write = int(usage.get("cache_creation_input_tokens") or 0)
    tokens_in, tokens_out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {
        "inputTokens": tokens_in,
        "outputTokens": tokens_out,
        "totalTokens": tokens_in + tokens_out + read + write,
        "cacheReadInputTokens": read,
        "cacheWriteInputTokens": write,
    }


# ---- client side: canonical -> a Converse request, ConverseStream events -> canonical ----


def to_converse_request(request: MessagesRequest) -> dict[str, Any]:
    """The Converse body for a canonical request (the provider first refuses the fields no translation carries)."""
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


class ConverseStreamReader:
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
            self.out.usage = canonical_usage(payload.get("usage") or {})
        return events

    def finish(self) -> list[Event]:
        if self.stop_reason is None:
            raise InternalError("the Bedrock stream ended before messageStop")
        return self.out.end(STOP_REASONS.get(self.stop_reason, "end_turn"))


# ---- server side: a Converse request -> canonical, canonical events -> ConverseStream / Converse ----


def _converse_block(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"text": block.get("text", "")}
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block.get("input") or {}}}
    if kind == "thinking":
        text = {"text": block.get("thinking", "")}
        if block.get("signature"):
            text["signature"] = block["signature"]
        return {"reasoningContent": {"reasoningText": text}}
    if kind == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": block.get("data", "")}}
    return None  # server tool blocks have no Converse form


def to_converse_response(
    message: dict[str, Any], latency_ms: int, guardrail_intervened: bool, trace: dict[str, Any] | None
) -> dict[str, Any]:
    """A folded canonical message as Converse's response."""
    content = [b for b in (_converse_block(block) for block in message.get("content") or []) if b is not None]
    body: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason_of(message.get("stop_reason"), guardrail_intervened),
        "usage": converse_usage(message.get("usage") or {}),
        "metrics": {"latencyMs": latency_ms},
    }
    if trace is not None:
        body["trace"] = {"guardrail": trace}
    return body


def guardrail_trace(canonical: dict[str, Any] | None, guardrail: str, on_input: bool = False) -> dict[str, Any] | None:
    """Basalt's guardrail trace (`{"action", "assessments"}` on message_delta) as Bedrock's trace.guardrail: the
    assessment of the request (`inputAssessment`, when it was refused before any model ran) or of the answer."""
    if not canonical:
        return None
    assessments = list(canonical.get("assessments") or [])
    reason = "Guardrail blocked." if canonical.get("action") == "GUARDRAIL_INTERVENED" else "No action."
    if on_input:
        return {"inputAssessment": {guardrail: assessments[0] if assessments else {}}, "actionReason": reason}
    return {"outputAssessments": {guardrail: assessments}, "actionReason": reason}


class ConverseStreamWriter:
    """Canonical events -> ConverseStream events, as (event type, payload) pairs for the event-stream encoder.

    Text and reasoning blocks open with their first delta (Bedrock sends contentBlockStart only for tool use); the
    usage of message_start and message_delta is merged into the closing metadata event."""

    def __init__(
        self,
        started: float,
        guardrail: str | None,
        intervened: Callable[[], bool],
        on_input: Callable[[], bool] = lambda: False,
    ) -> None:
        self.started = started  # monotonic seconds the call was accepted, for metrics.latencyMs
        self.guardrail = guardrail  # the Converse guardrailIdentifier, naming the trace's assessments
        self.intervened = intervened  # whether a guardrail intervened, asked when the answer ends
        self.on_input = on_input  # whether the request was refused before any model ran
        self.usage: dict[str, Any] = {}
        self.trace: dict[str, Any] | None = None

    def encode(self, event: Event, now: float) -> list[tuple[str, dict[str, Any]]]:
        kind = event["type"]
        if kind == "content_block_delta":
            delta = event["delta"]
            piece = _delta(delta)
            if piece is None:
                return []
            return [("contentBlockDelta", {"contentBlockIndex": event["index"], "delta": piece})]
        if kind == "message_start":
            self.usage.update(event["message"].get("usage") or {})
            return [("messageStart", {"role": "assistant"})]
        if kind == "content_block_start":
            block = event["content_block"]
            if block.get("type") != "tool_use":
                return []
            start = {"toolUse": {"toolUseId": block["id"], "name": block["name"]}}
            return [("contentBlockStart", {"contentBlockIndex": event["index"], "start": start})]
        if kind == "content_block_stop":
            return [("contentBlockStop", {"contentBlockIndex": event["index"]})]
        if kind == "message_delta":
            self.usage.update(event.get("usage") or {})
            if self.guardrail is not None:
                self.trace = guardrail_trace(event.get("guardrail"), self.guardrail, self.on_input())
            reason = stop_reason_of(event["delta"].get("stop_reason"), self.intervened())
            return [("messageStop", {"stopReason": reason})]
        if kind == "message_stop":
            metadata: dict[str, Any] = {
                "usage": converse_usage(self.usage),
                "metrics": {"latencyMs": round((now - self.started) * 1000)},
            }
            if self.trace is not None:
                metadata["trace"] = {"guardrail": self.trace}
            return [("metadata", metadata)]
        return []


def _delta(delta: dict[str, Any]) -> dict[str, Any] | None:
    kind = delta["type"]
    if kind == "text_delta":
        return {"text": delta["text"]}
    if kind == "input_json_delta":
        return {"toolUse": {"input": delta["partial_json"]}}
    if kind == "thinking_delta":
        return {"reasoningContent": {"text": delta["thinking"]}}
    if kind == "signature_delta":
        return {"reasoningContent": {"signature": delta["signature"]}}
    return None
