"""Small ASGI pieces: a request id on every response, bounded body reads, and a streaming response that stops
producing (and so frees the sequence behind it) as soon as the client goes away."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidRequest, RequestTooLarge

log = logging.getLogger("basalt.http")
T = TypeVar("T")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class RequestIdMiddleware:
    """Gives each request an id, sent back as `request-id` (Anthropic) and `x-request-id` (OpenAI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, with_request_id(scope, send))


def with_request_id(scope: Scope, send: Send) -> Send:
    """Gives the request in `scope` a new id; the returned `send` adds it to the response's headers."""
    request_id = new_request_id()
    scope.setdefault("state", {})["request_id"] = request_id
    header = request_id.encode()

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"request-id", header), (b"x-request-id", header)]
        await send(message)

    return send_with_id


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"Request exceeds the maximum allowed size of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(f"Request exceeds the maximum allowed size of {limit} bytes.")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidRequest("the client closed the connection before sending the whole body") from None
    return b"".join(chunks)


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelled if the client disconnects first (so a non-streaming call frees its sequence too)."""
    task = asyncio.current_task()
    assert task is not None

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    finally:
        watcher.cancel()


class EventStreamResponse(Response):
    """Sends an async iterator of byte chunks as text/event-stream, closing the iterator when the client leaves."""

    def __init__(self, chunks: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> None:
        self.chunks = chunks
        self.extra_headers = headers or {}
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *((k.encode(), v.encode()) for k, v in self.extra_headers.items()),
        ]
        # Produced in this task; a watcher cancels it when the client leaves (a task of its own per stream costs).
        task = asyncio.current_task()
        assert task is not None
        left = False

        async def watch() -> None:
            nonlocal left
            while (await receive())["type"] != "http.disconnect":
                pass
            left = True
            task.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await self._produce(send, headers)
        except asyncio.CancelledError:
            if not left:
                raise
            task.uncancel()  # the client went away; the iterator has been closed
        except OSError:
            pass
        finally:
            watcher.cancel()

    async def _produce(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        """Sends chunks as they come, but whatever is ready together goes out in one write: with a fast upstream a
        whole answer can be ready at once, and a write per event was a large share of the cost of streaming."""
        ready: list[bytes] = []
        wake = asyncio.Event()
        pump = asyncio.ensure_future(self._pump(ready, wake))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            while True:
                await wake.wait()
                wake.clear()
                last = pump.done()
                error = pump.exception() if last else None
                body = b"".join(ready)
                ready.clear()
                if last and error is None:  # the end of the stream goes out with its last chunks
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                if error is not None:
                    raise error  # an error the stream raised goes up from here
        finally:
            pump.cancel()
            await _close(self.chunks)

    async def _pump(self, ready: list[bytes], wake: asyncio.Event) -> None:
        try:
            async for chunk in self.chunks:
                ready.append(chunk)
                wake.set()
        finally:
            wake.set()


async def _close(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
