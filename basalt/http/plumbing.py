"""Small ASGI pieces: a request id on every response, bounded body reads, one disconnect watcher per request that
cancels whatever the request waits on once the client goes away (the upstream call, the router's retries, the local
sequence), and a streaming response that stops producing as soon as it does."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..canonical.events import Event, EventBatch
from ..errors import BasaltError, InternalError, InvalidRequest, RequestTooLarge

log = logging.getLogger("basalt.http")
CALL = "basalt.call"  # the scope key under which a generation route leaves its `flow.Call` for the HTTP edge
PRINCIPAL = "basalt.principal"  # where a route that has no call leaves who called it (admin, usage), for the same
ERROR_TYPE = "basalt.error_type"  # the error type of an error response, set where the error becomes the response
ARM_SECONDS = 0.05  # how long the wait for a first event goes unwatched (see _Watcher.arm)
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


async def until_disconnected(receive: Receive, handle: Callable[[], Awaitable[None]]) -> None:
    """Runs `handle` (an endpoint and its response) under one disconnect watcher for the whole request: whatever it
    waits on from then on (the first event, a router's retries and backoff, the rest of the answer) is cancelled when
    the client leaves, which closes the upstream call and settles the ticket as cancelled, and the request then ends
    quietly. The helpers below find the watcher through a context variable, so every endpoint run this way has it."""
    watcher = _Watcher(receive)
    token = _watching.set(watcher)
    try:
        await handle()
    except asyncio.CancelledError:
        if not watcher.left:
            raise
        watcher.task.uncancel()  # the client went away, not the server: nothing to answer
    finally:
        watcher.stop()
        _watching.reset(token)


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelled if the client disconnects first (so a non-streaming call frees its sequence too)."""
    step = _Step(work)
    shared = _watching.get()
    watcher = shared or _Watcher(request.receive)
    if not step.ready:
        watcher.start()
    try:
        return await step
    finally:
        if watcher is not shared:
            watcher.stop()


class _Watcher:
    """Cancels the current task when the client disconnects. Started only once the task has to wait: until then it
    could not act on a disconnect anyway, and most fast answers never wait (a task per request costs). Once started
    it watches until the request ends; stopped, it cancels nothing any more (a cancellation requested after the
    request's last wait would land in the server)."""

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.receive = receive
        self.task = task
        self.left = False
        self._stopped = False
        self._timer: asyncio.TimerHandle | None = None
        self._watching: asyncio.Future[None] | None = None

    def arm(self) -> None:
        """Starts watching once the task has waited ARM_SECONDS: a fast upstream's whole answer comes sooner, a timer
        costs a small part of what the task does, and a client that left meanwhile is seen as soon as it starts."""
        if self._timer is None and self._watching is None and not self._stopped:
            self._timer = self.task.get_loop().call_later(ARM_SECONDS, self.start)

    def start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._watching is None and not self._stopped:
            self._watching = asyncio.ensure_future(self._watch())

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        if self._watching is not None:
            self._watching.cancel()

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        if not self._stopped:
            self.left = True
            self.task.cancel()


# The watcher of the request this task serves, when it runs under `until_disconnected`.
_watching: ContextVar[_Watcher | None] = ContextVar("basalt_disconnect_watcher", default=None)


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
    """Reads the first item now, so errors found before any output can still become an HTTP error status. The wait
    for it (an upstream's first byte, its retries) is watched: a client that leaves meanwhile cancels it."""
    step = _Step(items.__anext__())
    if not step.ready:
        watcher = _watching.get()
        if watcher is not None:
            watcher.arm()
    return Prefetched(await step, items)


async def _value(item: T) -> T:
    return item


class EventStreamResponse(Response):
    """Sends canonical event batches as text/event-stream (Bedrock's dialect: its binary framing), one write per
    batch (what became ready together), each event encoded by the caller's dialect (an error that ends the stream
    too); the stream is closed as soon as the client leaves. With a fast upstream a whole answer can be one batch: a
    write per event was a large share of the cost of streaming."""

    def __init__(
        self,
        batches: Prefetched[EventBatch],
        encode: Callable[[Event], bytes],
        fail: Callable[[BasaltError], bytes],
        headers: dict[str, str] | None = None,
        media_type: bytes = b"text/event-stream; charset=utf-8",  # Bedrock's dialect streams its binary framing
    ) -> None:
        self.batches = batches
        self.encode = encode
        self.fail = fail
        self.extra_headers = headers or {}
        self.stream_type = media_type
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", self.stream_type),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *((k.encode(), v.encode()) for k, v in self.extra_headers.items()),
        ]
        shared = _watching.get()
        watcher = shared or _Watcher(receive)
        try:
            await self._produce(send, headers, watcher)
        except asyncio.CancelledError:
            if not watcher.left:
                raise
            watcher.task.uncancel()  # the client went away; the stream has been closed
        except OSError:
            pass
        finally:
            if watcher is not shared:
                watcher.stop()

    async def _produce(self, send: Send, headers: list[tuple[bytes, bytes]], watcher: _Watcher) -> None:
        encode = self.encode
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b""
        step: _Step[EventBatch] | None = None
        try:
            while True:
                step = _Step(self.batches.__anext__())
                if not step.ready and body:
                    # The stream waits: what is ready goes out, but first the loop takes in what has already
                    # arrived, so that an answer that came at once (the end of a fast upstream's body is a read
                    # of its own) still goes out in one write.
                    await asyncio.sleep(0)
                    if not step.ready:
                        await send({"type": "http.response.body", "body": body, "more_body": True})
                        body = b""
                if not step.ready:
                    watcher.start()
                body += b"".join([encode(event) for event in await step])
        except StopAsyncIteration:
            pass
        except BasaltError as exc:
            body += self.fail(exc)
        except Exception:
            log.exception("stream failed")
            body += self.fail(InternalError("Internal server error"))
        finally:
            if step is not None:
                step.cancel()
            await self.batches.aclose()
        await send({"type": "http.response.body", "body": body, "more_body": False})


class _Step(Generic[T]):
    """An awaitable (a stream's `__anext__`) run now as far as it goes without waiting. `ready` says whether it
    can finish without waiting; awaiting the step finishes it and gives its result: the task waits on what the step
    waits on, and a cancellation goes into the step, as if the task had awaited it from the start."""

    def __init__(self, step: Awaitable[T]) -> None:
        self._coroutine: Generator[Any, Any, T] | None = step.__await__()
        self._waiting: Any = None
        self._advance(None)  # StopAsyncIteration, at the end of a stream, goes up from here

    @property
    def ready(self) -> bool:
        return self._coroutine is None or (isinstance(self._waiting, asyncio.Future) and self._waiting.done())

    def _advance(self, value: Any) -> None:
        assert self._coroutine is not None
        try:
            self._waiting = self._coroutine.send(value)
        except StopIteration as finished:
            self._result: T = finished.value
            self._coroutine = None

    def __await__(self) -> Generator[Any, Any, T]:
        while self._coroutine is not None:
            if self.ready:  # what it waited on is there already: go on without a turn of the loop
                self._advance(None)
                continue
            try:
                sent = yield self._waiting
            except BaseException as exc:
                coroutine, self._coroutine = self._coroutine, None
                try:
                    self._waiting = coroutine.throw(exc)
                except StopIteration as finished:
                    return finished.value  # type: ignore[no-any-return]
                self._coroutine = coroutine  # it caught the exception and waits again
            else:
                self._advance(sent)
        return self._result

    def cancel(self) -> None:
        """Ends a step left half-way (the response stopped while it waited), as a cancelled task would have."""
        coroutine, self._coroutine = self._coroutine, None
        if coroutine is None:
            return
        try:
            coroutine.throw(asyncio.CancelledError())
        except BaseException:
            return
        coroutine.close()  # it tried to wait again while being cancelled


async def _close(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
