"""The upstream HTTP client against a raw asyncio server: keep-alive reuse, both body framings, compressed bodies,
a connection the server closed while idle, timeouts, and a response cut short."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from basalt.http.client import HTTPClient, HTTPError

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # returns False to close the connection


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """Serves `handler` for each request; yields the base URL and the count of connections accepted so far."""
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
                body = await reader.readexactly(length)
                if not await handler(head + body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield f"http://127.0.0.1:{port}/v1", accepted


def respond(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n" % (len(body), extra) + body


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_keeps_connections_alive_and_sends_headers() -> None:
    seen: list[bytes] = []

    async def handler(request: bytes, writer: asyncio.StreamWriter) -> bool:
        seen.append(request)
        writer.write(respond(b'{"ok": true}'))
        return True

    async def main() -> None:
        async with server(handler) as (url, accepted):
            client = HTTPClient(url, {"x-api-key": "k"})
            for _ in range(3):
                response = await client.post("/messages", b'{"a": 1}', {"anthropic-version": "2023-06-01"})
                assert response.status == 200
                assert await response.read() == b'{"ok": true}'
                response.release()
            assert len(accepted) == 1
            await client.close()
        first = seen[0].decode()
        assert first.startswith("POST /v1/messages HTTP/1.1\r\n")
        assert "\r\nhost: 127.0.0.1:" in first and "\r\nx-api-key: k\r\n" in first
        assert "\r\nanthropic-version: 2023-06-01\r\n" in first and first.endswith('\r\n\r\n{"a": 1}')

    run(main())


def test_chunked_and_gzip_bodies_arrive_whole() -> None:
    async def handler(request: bytes, writer: asyncio.StreamWriter) -> bool:
        packed = gzip.compress(b"data: one\n\ndata: two\n\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-encoding: gzip\r\n\r\n")
        for i in range(0, len(packed), 7):
            piece = packed[i : i + 7]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        return True

    async def main() -> None:
        async with server(handler) as (url, accepted):
            client = HTTPClient(url)
            for _ in range(2):
                response = await client.post("/x", b"{}")
                assert response.headers["content-encoding"] == "gzip"
                assert await response.read() == b"data: one\n\ndata: two\n\n"
                response.release()
            assert len(accepted) == 1
            await client.close()

    run(main())


def test_a_connection_closed_while_idle_is_replaced() -> None:
    async def handler(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(respond(b"{}"))
        await writer.drain()
        return False  # close after each answer, without saying so

    async def main() -> None:
        async with server(handler) as (url, accepted):
            client = HTTPClient(url)
            for _ in range(3):
                response = await client.post("/x", b"{}")
                assert await response.read() == b"{}"
                response.release()
                await asyncio.sleep(0.01)
            assert len(accepted) == 3
            await client.close()

    run(main())


def test_timeouts_and_cut_responses_are_errors() -> None:
    async def handler(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"slow" in request:
            await asyncio.sleep(1)
            return False
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()
        return False

    async def main() -> None:
        async with server(handler) as (url, _):
            client = HTTPClient(url, read_timeout=0.1)
            with pytest.raises(TimeoutError):
                await client.post("/x", b"slow")
            response = await client.post("/x", b"cut")
            with pytest.raises(HTTPError, match="closed before the response ended"):
                await response.read()
            response.release()
            await client.close()

    run(main())


def test_unreachable_and_bad_urls() -> None:
    async def main() -> None:
        client = HTTPClient("http://127.0.0.1:9/v1")
        with pytest.raises(HTTPError, match="cannot connect"):
            await client.post("/x", b"{}")

    run(main())
    with pytest.raises(ValueError):
        HTTPClient("ftp://example.com")
    with pytest.raises(ValueError):
        HTTPClient("http://example.com", {"x-evil": "a\r\nb"})


def test_a_body_without_a_length_ends_with_the_connection() -> None:
    async def handler(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{"whole": true}')
        await writer.drain()
        return False

    async def main() -> None:
        async with server(handler) as (url, _):
            client = HTTPClient(url)
            response = await client.post("/x", b"{}")
            assert await response.read() == b'{"whole": true}'
            response.release()
            await client.close()

    run(main())
