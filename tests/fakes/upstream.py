"""A scripted OpenAI-compatible upstream on a real port, for fault tests: each request takes the next action."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


class Script:
    def __init__(self) -> None:
        self.actions: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # each request's headers, in the order the requests came
        self.disconnected = 0
        self.closed: list[float] = []  # when (time.monotonic()) a caller closed a connection the fake was holding

    def next(self) -> str:
        return self.actions.pop(0) if self.actions else "ok"


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
    }
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def whole_completion(action: str) -> Response:
    """The non-streaming answer, with the same faults as the stream where they make sense."""
    words = action[4:].split("|") if action.startswith("say:") else ["Hello from the fake upstream."]
    text = "".join(words)
    completion = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13},
    }
    body = json.dumps(completion).encode()
    if action == "badjson":
        return Response(body[:40] + b"{not json", media_type="application/json")
    if action in ("cut", "endless"):

        async def partial() -> AsyncIterator[bytes]:
            yield body[:30]
            if action == "endless":
                await asyncio.sleep(3600)
            raise RuntimeError("connection cut")

        return StreamingResponse(partial(), media_type="application/json")
    return Response(body, media_type="application/json")


async def hold(request: Request, script: Script, seconds: float) -> bool:
    """Waits `seconds` before answering, watching the connection: True (and the time noted) if the caller closed it."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                script.closed.append(time.monotonic())
                return True
            await asyncio.sleep(0.02)
    except asyncio.CancelledError:  # a streamed response is cancelled when its connection goes
        script.closed.append(time.monotonic())
        raise
    return False


def build_app(script: Script) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        script.requests.append(body)
        script.headers.append(dict(request.headers))
        action = script.next()
        if action.startswith("wait:") and await hold(request, script, float(action[5:])):  # no status line yet
            return Response(status_code=499)
        if action == "429":
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit"}}, 429, {"retry-after": "1"})
        if action in ("500", "529", "503"):
            return JSONResponse({"error": {"message": f"failure {action}"}}, int(action))
        if action.startswith("redirect:"):  # the upstream moved: "redirect:307" or "redirect:301:/v2/moved"
            _, code, *where = action.split(":", 2)
            location = where[0] if where else "https://moved.example/v1/chat/completions"
            return Response(b"moved", int(code), {"location": location})
        if action == "400":
            return JSONResponse({"error": {"message": "bad field 'x'"}}, 400)
        if action.startswith("slow:"):
            await asyncio.sleep(float(action[5:]))
        if not body.get("stream"):
            if action.startswith("hold:"):  # the status line goes out, the body waits

                async def late() -> AsyncIterator[bytes]:
                    if not await hold(request, script, float(action[5:])):
                        yield whole_completion("ok").body

                return StreamingResponse(late(), media_type="application/json")
            return whole_completion(action)

        async def events() -> AsyncIterator[bytes]:
            try:
                if action.startswith("hold:") and await hold(request, script, float(action[5:])):  # headers sent
                    return
                yield chunk({"role": "assistant", "content": ""})
                words = ["Hello", " from", " the", " fake", " upstream", "."]
                if action.startswith("say:"):  # "say:one chunk|the next chunk|..."
                    words = action[4:].split("|")
                for i, word in enumerate(words):
                    if action == "cut" and i == 3:
                        raise RuntimeError("connection cut")  # the server drops the connection mid-stream
                    if action == "badjson" and i == 2:
                        yield b"data: {not json\n\n"
                    if action == "endless":
                        await asyncio.sleep(0.05)
                    if action.startswith("drip:"):  # "drip:0.1": a pause before each word
                        await asyncio.sleep(float(action[5:]))
                    yield chunk({"content": word})
                    if action == "endless" and i == len(words) - 1:
                        words.extend(["more"] * 200)
                yield chunk({}, "stop")
                yield chunk({}, usage={"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 13})
                yield b"data: [DONE]\n\n"
            except asyncio.CancelledError:
                script.disconnected += 1
                raise

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@contextmanager
def fake_upstream() -> Iterator[tuple[str, Script]]:
    script = Script()
    with serving(build_app(script)) as url:
        yield url + "/v1", script


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Recording:
    """What an Anthropic-protocol fake received: each request's path, query, protocol headers and JSON body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]


ANTHROPIC_MESSAGE: dict[str, Any] = {
    "id": "msg_fake",
    "type": "message",
    "role": "assistant",
    "model": "claude-fake",
    "content": [
        {"type": "thinking", "thinking": "Hm.", "signature": "sig-1"},
        {"type": "text", "text": "Hello from Claude.", "citations": None},
        {"type": "tool_use", "id": "toolu_fake", "name": "look", "input": {"q": "x", "n": 1.5}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 0, "service_tier": "standard"},
    "container": None,
}


def anthropic_stream(message: dict[str, Any]) -> bytes:
    """The message as Anthropic streams it: named events, deltas for text and tool input."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append({"type": "content_block_start", "index": i, "content_block": {**block, "text": ""}})
            events.append(
                {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": block["text"]}}
            )
        elif block["type"] == "tool_use":
            events.append({"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            events.append({"type": "content_block_delta", "index": i, "delta": delta})
        else:
            events.append({"type": "content_block_start", "index": i, "content_block": block})
        events.append({"type": "content_block_stop", "index": i})
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    events += [{"type": "message_delta", "delta": delta, "usage": message["usage"]}, {"type": "message_stop"}]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def build_anthropic_app(recording: Recording) -> Starlette:
    async def record(request: Request) -> dict[str, Any]:
        body = await request.json()
        headers = {k: v for k, v in request.headers.items() if k.startswith("anthropic-") or k == "x-api-key"}
        recording.requests.append(
            {"path": request.url.path, "query": request.url.query, "headers": headers, "body": body}
        )
        return body  # type: ignore[no-any-return]

    async def messages(request: Request) -> Response:
        body = await record(request)
        if body.get("stream"):
            return Response(anthropic_stream(ANTHROPIC_MESSAGE), media_type="text/event-stream")
        return JSONResponse(ANTHROPIC_MESSAGE)

    async def count_tokens(request: Request) -> Response:
        await record(request)
        return JSONResponse({"input_tokens": 42})

    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        ]
    )


@contextmanager
def fake_anthropic_upstream() -> Iterator[tuple[str, Recording]]:
    """An Anthropic-protocol upstream that records every request and answers with ANTHROPIC_MESSAGE."""
    recording = Recording()
    with serving(build_anthropic_app(recording)) as url:
        yield url, recording
