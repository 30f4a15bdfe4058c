"""Small ASGI pieces: a request id on every response, bounded body reads, and a streaming response that stops
producing (and so frees the sequence behind it) as soon as the client goes away."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..canonical.events import Event, EventBatch
from ..errors import BasaltError, InternalError, InvalidRequest, RequestTooLarge

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


class Prefetched(Generic[T]):
    """A stream whose first item was read ahead; iterating it gives that item, then the rest of the stream itself
    (no generator in between)."""

    def __init__(self, first: T, rest: AsyncIterator[T]) -> None:
        self.first = first
        self.rest = rest
        self._pending = True

    def __aiter__(self) -> Prefetched[T]:
        return self

    def __anext__(self) -> Awaitable[T]:
        if self._pending:
            self._pending = False
            return _value(self.first)
        return self.rest.__anext__()

    async def aclose(self) -> None:
        await _close(self.rest)


async def first_and_rest(items: AsyncIterator[T]) -> Prefetched[T]:
    """Reads the first item now, so errors found before any output can still become an HTTP error status."""
    return Prefetched(await anext(items), items)


async def _value(item: T) -> T:
    return item


class EventStreamResponse(Response):
    """Sends canonical event batches as text/event-stream, one write per batch (what became ready together), each
    event encoded by the caller's dialect (an error that ends the stream too); the stream is closed as soon as the
    client leaves. With a fast upstream a whole answer can be one batch: a write per event was a large share of the
    cost of streaming."""

    def __init__(
        self,
        batches: Prefetched[EventBatch],
        encode: Callable[[Event], bytes],
        fail: Callable[[BasaltError], bytes],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.batches = batches
        self.encode = encode
        self.fail = fail
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
            task.uncancel()  # the client went away; the stream has been closed
        except OSError:
            pass
        finally:
            watcher.cancel()

    async def _produce(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        encode = self.encode
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b""
        try:
            async for batch in self.batches:
                body += b"".join([encode(event) for event in batch])
                if batch[-1]["type"] != "message_stop":  # the answer's end goes out with the response's end
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    body = b""
        except BasaltError as exc:
            body += self.fail(exc)
        except Exception:
            log.exception("stream failed")
            body += self.fail(InternalError("Internal server error"))
        finally:
            await self.batches.aclose()
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _close(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
