"""What the HTTP upstream providers share: a pooled client, server-sent-event parsing, and error mapping."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any, Protocol
from urllib.parse import urljoin

import orjson

from ..errors import BadGateway, BasaltError, InternalError, InvalidRequest, NotFound, Overloaded, RateLimited
from ..http.client import HTTPClient, HTTPError, Response
from .base import CURRENT_ATTEMPT, Event, EventBatch

REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Bounds on what an upstream's answer may hold in memory: a whole JSON body, one server-sent event, an error body
# (only its start is read: it is shown to the caller cut to 300 characters anyway).
MAX_BODY = 64 << 20
MAX_EVENT = 16 << 20
MAX_ERROR_BODY = 64 << 10
UPSTREAM_ERRORS: dict[int, type[BasaltError]] = {
    400: InvalidRequest,
    404: NotFound,
    422: InvalidRequest,
    529: Overloaded,
}


class UpstreamTimeout(BasaltError):
    error_type = "timeout_error"


class UpstreamClient:
    """One upstream's base URL and fixed headers over a keep-alive connection pool; failures become Basalt errors."""

    def __init__(self, base_url: str, timeout: float, headers: dict[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = HTTPClient(
            self.base_url, {"content-type": "application/json", **headers}, connect_timeout=5, read_timeout=timeout
        )

    async def close(self) -> None:
        """Close this event loop's pool (the others belong to loops that close their own)."""
        await self.http.close()

    async def post(
        self, path: str, body: dict[str, Any] | bytes, upstream: str, headers: dict[str, str] | None = None
    ) -> Response:
        """Send the request and wait for the status line; errors before any output are raised here."""
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        attempt = CURRENT_ATTEMPT.get()
        if attempt is not None and attempt.headers:  # the try's trace context (a `traceparent` naming its span)
            headers = {**headers, **attempt.headers} if headers else attempt.headers
        try:
            response = await self.http.post(path, data, headers)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"upstream {upstream} timed out: {exc or 'no answer in time'}") from None
        except HTTPError as exc:
            raise InternalError(f"upstream {upstream} could not be reached: {exc}") from None
        if response.status != 200:
            error = redirected(response, upstream, self.base_url + path) or await error_from(response, upstream)
            response.release()
            raise error
        return response

    async def events(
        self, path: str, body: dict[str, Any], upstream: str, reader: ChunkReader
    ) -> AsyncGenerator[EventBatch, None]:
        """POSTs `body` and reads the answer, a `data:`-only event stream (Chat Completions, Gemini), through
        `reader`: a batch of events per network read. The response is released however the stream ends; an error
        object or a chunk that is not JSON ends the stream with an error.

        One generator from the request to the events, and one JSON parse per event on the common shape (a single
        `data: {...}` line): on a fast upstream each step an event crosses was a visible share of the gateway's cost
        per token."""
        response = await self.post(path, body, upstream)
        blocks = _Blocks()

        def events_of(piece: bytes) -> Iterator[Event]:
            for block in blocks.feed(piece):
                chunk = _chunk(block, upstream)
                if chunk is not None:
                    yield from reader.feed(chunk)

        try:
            async for batch in read_batches(response, upstream, events_of):
                yield batch
            chunk = _chunk(blocks.rest, upstream)
            yield (reader.feed(chunk) if chunk is not None else []) + reader.finish()
        finally:
            response.release()


async def body_chunks(response: Response, upstream: str) -> AsyncIterator[bytes]:
    """The body as it arrives; a stall or a broken connection is the upstream's fault, reported as such."""
    try:
        async for piece in response.chunks():
            yield piece
    except TimeoutError as exc:
        raise UpstreamTimeout(f"upstream {upstream} stopped sending: {exc}") from None
    except HTTPError as exc:
        raise InternalError(f"upstream {upstream} broke off the stream: {exc}") from None


async def read_batches(
    response: Response, upstream: str, events_of: Callable[[bytes], Iterator[Event]]
) -> AsyncIterator[EventBatch]:
    """The events `events_of` finds in each network read of the body, as one batch (never an empty one). A fault in
    the middle of a read ends the stream, but the events before it go out first, as they would have one by one."""
    async for piece in body_chunks(response, upstream):
        batch: EventBatch = []
        try:
            for event in events_of(piece):
                batch.append(event)
        except Exception:
            if batch:
                yield batch
            raise
        if batch:
            yield batch


def redirected(response: Response, upstream: str, url: str) -> BadGateway | None:
    """A redirect is not followed: an API POST must not be re-sent to wherever a server points (a 301/302 would even
    turn it into a GET), and a moved upstream stays moved, so the error names the new address for the deployment's
    base_url instead of being retried."""
    if response.status not in REDIRECTS:
        return None
    location = response.headers.get("location", "")
    target = urljoin(url, location)[:500] if location else "no Location"
    return BadGateway(
        f"upstream {upstream} redirected ({response.status}) {url} to {target}; redirects are not followed: "
        "set the deployment's base_url to the address it should use"
    )


async def error_from(response: Response, upstream: str) -> BasaltError:
    """The caller sees the upstream's own message, with the status class it implies."""
    try:
        raw = await _read_at_most(response, MAX_ERROR_BODY, truncate=True)
    except (TimeoutError, HTTPError):
        raw = b""
    try:
        body = orjson.loads(raw)
        error = body.get("error")
        found = error.get("message") if isinstance(error, dict) else body.get("message") or body.get("Message")
        message = str(found or raw[:300].decode(errors="replace"))
    except (orjson.JSONDecodeError, AttributeError):
        message = raw[:300].decode(errors="replace")
    retry_after = _retry_after(response.headers.get("retry-after"))
    text = f"upstream {upstream} answered {response.status}: {message}"
    if response.status == 429:
        return RateLimited(text, retry_after=retry_after)
    kind = UPSTREAM_ERRORS.get(response.status)
    if kind is not None:
        return kind(text, retry_after=retry_after)
    return InternalError(text, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


async def sse_events(response: Response, upstream: str) -> AsyncIterator[list[tuple[str, Any]]]:
    """(event name, parsed data) for the server-sent events of each network read; data that is not JSON comes back
    as a string. Reads whatever has arrived at once and splits it here: line-by-line reads cost two awaits per event,
    which was most of a fast upstream's per-chunk cost."""
    blocks = _Blocks()
    async for piece in body_chunks(response, upstream):
        events = [event for event in map(_sse_block, blocks.feed(piece)) if event is not None]
        if events:
            yield events
    last = _sse_block(blocks.rest)
    if last is not None:
        yield [last]


class _Blocks:
    """Splits an event stream into its blocks (the text between blank lines) as its pieces arrive. A block's pieces
    are kept apart until its end arrives (joined once, not re-split at every piece), and one block is bounded."""

    def __init__(self) -> None:
        self._rest = b""  # the start of a block whose end has not arrived ...
        self._more: list[bytes] = []  # ... and the pieces after it that do not end it
        self._size = 0
        self._cr = False

    @property
    def rest(self) -> bytes:
        return b"".join([self._rest, *self._more]) if self._more else self._rest

    def feed(self, piece: bytes) -> list[bytes]:
        if self._cr:  # a \r\n that the network cut in two
            piece = b"\r" + piece
            self._cr = False
        if b"\r" in piece:
            if piece.endswith(b"\r"):
                piece, self._cr = piece[:-1], True
            piece = piece.replace(b"\r\n", b"\n")
        if b"\n\n" not in piece and not (piece[:1] == b"\n" and self._last_byte() == b"\n"):  # no block ends here
            self._more.append(piece)
            self._size += len(piece)
            if self._size + len(self._rest) > MAX_EVENT:
                raise InternalError(f"an upstream sent an event over {MAX_EVENT >> 20} MiB")
            return []
        text = b"".join([self._rest, *self._more, piece]) if self._more else self._rest + piece
        self._more.clear()
        self._size = 0
        *complete, self._rest = text.split(b"\n\n")
        if len(self._rest) > MAX_EVENT:
            raise InternalError(f"an upstream sent an event over {MAX_EVENT >> 20} MiB")
        return complete

    def _last_byte(self) -> bytes:
        return (self._more[-1] if self._more else self._rest)[-1:]


def _sse_block(block: bytes) -> tuple[str, Any] | None:
    if block.startswith(b"data: ") and b"\n" not in block:  # nearly every event: one data line, no name
        return ("", _parse(block[6:]))
    name, data = "", list[bytes]()
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip())
        elif line.startswith(b"event:"):
            name = line[6:].strip().decode()
    return (name, _parse(b"\n".join(data))) if data else None


def _parse(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode(errors="replace")


class ChunkReader(Protocol):
    """Turns an upstream's JSON chunks into canonical events (one per provider)."""

    def feed(self, chunk: dict[str, Any]) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


def _chunk(block: bytes, upstream: str) -> dict[str, Any] | None:
    """The JSON object of one event; None for `[DONE]` and for blocks without data (comments, keep-alives)."""
    try:  # nearly every block: one `data: {...}` line, parsed without splitting it into lines
        chunk = orjson.loads(block[6:]) if block.startswith(b"data: {") else None
    except orjson.JSONDecodeError:
        chunk = None
    if chunk is None:
        if block == b"data: [DONE]":
            return None
        event = _sse_block(block)
        if event is None or event[1] == "[DONE]":
            return None
        chunk = event[1]
        if not isinstance(chunk, dict):
            raise InternalError(f"upstream {upstream} sent a chunk that is not JSON: {str(chunk)[:100]}")
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise InternalError(f"upstream {upstream} failed mid-stream: {message}")
    return chunk


async def _read_at_most(source: Response | AsyncIterator[bytes], limit: int, truncate: bool = False) -> bytes:
    """A body of at most `limit` bytes: the first `limit` (`truncate`) or a ValueError; the rest is not read."""
    pieces: list[bytes] = []
    size = 0
    async for piece in source.chunks() if isinstance(source, Response) else source:
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            if not truncate:
                raise ValueError(limit)
            break
    return b"".join(pieces)[:limit]


async def read_json(response: Response, upstream: str) -> dict[str, Any]:
    """A whole JSON response body; anything else is the upstream's fault, reported as such."""
    try:
        raw = await _read_at_most(body_chunks(response, upstream), MAX_BODY)
    except ValueError:
        raise InternalError(f"upstream {upstream} sent a body over {MAX_BODY >> 20} MiB") from None
    finally:
        response.release()
    data = _parse(raw)
    if not isinstance(data, dict):
        raise InternalError(f"upstream {upstream} sent a body that is not a JSON object: {str(data)[:100]}")
    if "error" in data:
        raise InternalError(f"upstream {upstream} failed: {(data['error'] or {}).get('message')}")
    return data
