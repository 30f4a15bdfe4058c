"""InvokeModel / InvokeModelWithResponseStream with Anthropic-on-Bedrock bodies, as `anthropic.AnthropicBedrock`
sends them: a Messages body with `anthropic_version: bedrock-2023-05-31` and no `model` or `stream` (those are in
the path), betas in `anthropic_beta`. The answer is the Anthropic Message; the stream is `chunk` events whose
`bytes` (base64 in the frame's JSON) is each Anthropic stream event, the last with Bedrock's invocation metrics.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import orjson

from ..canonical import MessagesRequest, parse_messages_request
from ..canonical.events import Event
from ..errors import InvalidRequest
from ..wire.eventstream import event_frame
from .anthropic import orjson_loads_object

ANTHROPIC_ON_BEDROCK = "bedrock-2023-05-31"
# What tells an Anthropic body from another model's: its anthropic_version, Bedrock's dated one or, as newer
# AnthropicBedrock clients send, the Messages API's own version date.
_VERSION = re.compile(r"(bedrock-)?\d{4}-\d{2}-\d{2}")


def anthropic_request(data: dict[str, Any], model: str, stream: bool) -> MessagesRequest:
    """The canonical request of an Anthropic-on-Bedrock body (`data` is taken apart) for `model`, a catalog name."""
    version = data.pop("anthropic_version", None)
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise InvalidRequest(
            "anthropic_version: Basalt's InvokeModel serves Anthropic Messages bodies, with anthropic_version "
            f"{ANTHROPIC_ON_BEDROCK!r} (got {str(version)[:40]!r}); other models' bodies are not supported: use "
            "Converse",
            param="anthropic_version",
        )
    for key in ("model", "stream"):
        if key in data:
            raise InvalidRequest(f"{key}: extraneous key [{key}] is not permitted (it is in the path)", param=key)
    betas = data.pop("anthropic_beta", None) or []
    if not isinstance(betas, list) or not all(isinstance(b, str) for b in betas):
        raise InvalidRequest("anthropic_beta: must be a list of strings", param="anthropic_beta")
    request = parse_messages_request({**data, "model": model, "stream": stream})
    if request.temperature is not None and request.temperature > 1.0:
        raise InvalidRequest("temperature: Input should be less than or equal to 1", param="temperature")
    return request.with_betas(tuple(betas))


def loads_object(raw: bytes) -> dict[str, Any]:
    return orjson_loads_object(raw, "The request body is not valid JSON")


def invocation_headers(usage: dict[str, Any], latency_ms: int) -> dict[str, str]:
    """InvokeModel's usage headers, as Bedrock sends them beside the body."""
    return {
        "x-amzn-bedrock-input-token-count": str(int(usage.get("input_tokens") or 0)),
        "x-amzn-bedrock-output-token-count": str(int(usage.get("output_tokens") or 0)),
        "x-amzn-bedrock-invocation-latency": str(latency_ms),
    }


class ChunkEncoder:
    """Each canonical event (the Anthropic stream event itself) as a `chunk` frame; the message_stop chunk carries
    `amazon-bedrock-invocationMetrics`, as Bedrock adds it."""

    def __init__(self, model: str, started: float) -> None:
        self.model = model  # the model id the caller named, shown in message_start as Bedrock does
        self.started = started  # monotonic seconds the call was accepted
        self.first: float | None = None
        self.usage: dict[str, Any] = {}

    def encode(self, event: Event) -> bytes:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        kind = event["type"]
        if kind == "message_start":
            self.usage.update(event["message"].get("usage") or {})
            event = {**event, "message": {**event["message"], "model": self.model}}
        elif kind == "message_delta":
            self.usage.update(event.get("usage") or {})
        elif kind == "message_stop":
            event = {**event, "amazon-bedrock-invocationMetrics": self._metrics(now)}
        return event_frame("chunk", {"bytes": base64.b64encode(orjson.dumps(event)).decode()})

    def _metrics(self, now: float) -> dict[str, int]:
        return {
            "inputTokenCount": int(self.usage.get("input_tokens") or 0),
            "outputTokenCount": int(self.usage.get("output_tokens") or 0),
            "invocationLatency": round((now - self.started) * 1000),
            "firstByteLatency": round(((self.first or now) - self.started) * 1000),
        }
