"""A Gemini API stand-in on a real port: records requests, answers with scripted GenerateContentResponse chunks
in the documented shapes (candidates[].content.parts, finishReason, usageMetadata), over SSE when alt=sse."""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


class GeminiScript:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.chunks: list[dict[str, Any]] = []
        self.status = 200


def text_reply(*pieces: str, finish: str = "STOP") -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}]} for p in pieces
    ]
    chunks[-1]["candidates"][0]["finishReason"] = finish
    chunks[-1]["usageMetadata"] = {
        "promptTokenCount": 11,
        "candidatesTokenCount": len(pieces),
        "totalTokenCount": 11 + len(pieces),
    }
    return chunks


def build_gemini_app(script: GeminiScript) -> Starlette:
    async def handle(request: Request) -> Response:
        body = await request.json()
        script.requests.append((request.url.path, body, dict(request.headers)))
        if script.status != 200:
            error = {"error": {"code": script.status, "message": "API key not valid", "status": "INVALID_ARGUMENT"}}
            return JSONResponse(error, script.status)
        if request.url.path.endswith(":countTokens"):
            return JSONResponse({"totalTokens": 42})
        if request.query_params.get("alt") != "sse":
            return JSONResponse({"error": {"code": 400, "message": "expected alt=sse"}}, 400)

        async def events() -> Any:
            for chunk in script.chunks:
                yield b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1beta/models/{rest:path}", handle, methods=["POST"])])
