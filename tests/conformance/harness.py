"""Runs one conformance case: a client request in one dialect, through the gateway, to a recording upstream of one
provider kind that replays a scripted answer. Returns what the upstream received and what the client got."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from basalt.wire.eventstream import EventStreamDecoder

from ..fakes.bedrock import event as bedrock_event

VOLATILE = re.compile(r"^(msg_|chatcmpl-|toolu_)[A-Za-z0-9]{24}$")
MASKED_KEYS = frozenset(("created", "request_id", "latencyMs", "invocationLatency", "firstByteLatency"))


class Recorder:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.response: dict[str, Any] = {}


def build_recorder_app(recorder: Recorder) -> Starlette:
    async def handle(request: Request) -> Response:
        body = await request.body()
        headers = {
            k: v for k, v in request.headers.items() if k in ("anthropic-beta", "anthropic-version", "content-type")
        }
        path = request.scope["raw_path"].decode()
        recorder.seen.append({"path": path, "query": request.url.query, "headers": headers, "body": json.loads(body)})
        spec = recorder.response
        kind = spec["kind"]
        if kind == "json":
            return JSONResponse(spec["body"], spec.get("status", 200))
        if kind == "sse-data":
            data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in spec["chunks"])
            return Response(data + (b"data: [DONE]\n\n" if spec.get("done") else b""), media_type="text/event-stream")
        if kind == "sse-named":
            data = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in spec["events"])
            return Response(data, media_type="text/event-stream")
        frames = b"".join(bedrock_event(e["event"], e["payload"]) for e in spec["events"])
        return Response(frames, media_type="application/vnd.amazon.eventstream")

    return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])


def mask(value: Any) -> Any:
    """Generated ids and timestamps differ on every run: replace them with '*'."""
    if isinstance(value, dict):
        return {
            k: "*" if k in MASKED_KEYS or (isinstance(v, str) and VOLATILE.match(v)) else mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def parse_sse(text: str) -> list[Any]:
    out: list[Any] = []
    for block in text.strip().split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            raw = "\n".join(data)
            out.append(raw if raw == "[DONE]" else mask(json.loads(raw)))
    return out


def parse_eventstream(data: bytes) -> list[Any]:
    """Bedrock's binary frames as {event|exception: type, payload}; an InvokeModel chunk's base64 bytes decoded."""
    out: list[Any] = []
    for message in EventStreamDecoder().feed(data):
        payload = json.loads(message.payload)
        if message.headers[":message-type"] == "exception":
            out.append({"exception": message.headers[":exception-type"], "payload": payload})
            continue
        if message.headers[":event-type"] == "chunk":
            payload = {"bytes": json.loads(base64.b64decode(payload["bytes"]))}
        out.append({"event": message.headers[":event-type"], "payload": mask(payload)})
    return out


def client_result(response: Any, stream: bool) -> dict[str, Any]:
    if stream and response.status_code == 200:
        if response.headers["content-type"] == "application/vnd.amazon.eventstream":
            return {"status": 200, "events": parse_eventstream(response.content)}
        return {"status": 200, "events": parse_sse(response.text)}
    result = {"status": response.status_code, "body": mask(response.json())}
    if "x-amzn-errortype" in response.headers:
        result["error_type"] = response.headers["x-amzn-errortype"]
    return result
