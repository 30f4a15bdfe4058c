"""What the HTTP upstream providers share: a pooled client, server-sent-event parsing, and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import orjson

from ..errors import BasaltError, InternalError, InvalidRequest, NotFound, Overloaded

UPSTREAM_ERRORS: dict[int, type[BasaltError]] = {
    400: InvalidRequest,
    404: NotFound,
    422: InvalidRequest,
    529: Overloaded,
}


class RateLimited(BasaltError):
    error_type = "rate_limit_error"


class UpstreamTimeout(BasaltError):
    error_type = "timeout_error"


def new_client(base_url: str, timeout: float, headers: dict[str, str]) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    return httpx.AsyncClient(
        base_url=base_url, timeout=httpx.Timeout(timeout, connect=5), limits=limits, headers=headers
    )


async def error_from(response: httpx.Response, upstream: str) -> BasaltError:
    """The caller sees the upstream's own message, with the status class it implies."""
    raw = await response.aread()
    try:
        body = orjson.loads(raw)
        message = str((body.get("error") or {}).get("message") or raw[:300].decode(errors="replace"))
    except (orjson.JSONDecodeError, AttributeError):
        message = raw[:300].decode(errors="replace")
    retry_after = _retry_after(response.headers.get("retry-after"))
    text = f"upstream {upstream} answered {response.status_code}: {message}"
    if response.status_code == 429:
        return RateLimited(text, retry_after=retry_after)
    kind = UPSTREAM_ERRORS.get(response.status_code)
    if kind is not None:
        return kind(text, retry_after=retry_after)
    return InternalError(text, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event name, parsed data) for each server-sent event; data that is not JSON comes back as a string."""
    name, data = "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    yield name, orjson.loads(text)
                except orjson.JSONDecodeError:
                    yield name, text
            name, data = "", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        text = "\n".join(data)
        try:
            yield name, orjson.loads(text)
        except orjson.JSONDecodeError:
            yield name, text


async def open_stream(client: httpx.AsyncClient, path: str, body: dict[str, Any], upstream: str) -> httpx.Response:
    """Send the request and wait for the status line; errors before any output are raised here."""
    try:
        request = client.build_request(
            "POST", path, content=orjson.dumps(body), headers={"content-type": "application/json"}
        )
        response = await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"upstream {upstream} timed out: {exc}") from None
    except httpx.TransportError as exc:
        raise InternalError(f"upstream {upstream} could not be reached: {exc}") from None
    if response.status_code != 200:
        error = await error_from(response, upstream)
        await response.aclose()
        raise error
    return response
