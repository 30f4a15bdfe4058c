"""What an upstream's answer may hold in memory, and the event-stream splitter that reads it: every block found
whatever the network's cuts, one block bounded, whole JSON bodies bounded, an error body read only as far as shown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from basalt.errors import InternalError
from basalt.http.client import HTTPClient
from basalt.providers import upstream_http
from basalt.providers.upstream_http import MAX_EVENT, _Blocks, read_json

STREAM = b"".join(b'data: {"n": %d}\n\n' % i for i in range(200)) + b"event: x\r\ndata: 1\r\n\r\ndata: [DONE]\n\n"


def test_blocks_are_found_wherever_the_network_cuts() -> None:
    expected = STREAM.replace(b"\r\n", b"\n").split(b"\n\n")[:-1]
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 60)))
        blocks = _Blocks()
        found = []
        for start, end in zip([0, *cuts], [*cuts, len(STREAM)], strict=True):
            found += blocks.feed(STREAM[start:end])
        assert found == expected and blocks.rest == b""


def test_one_block_is_bounded() -> None:
    blocks = _Blocks()
    blocks.feed(b'data: {"a": 1}\n\ndata: "')
    with pytest.raises(InternalError, match="event over 16 MiB"):
        for _ in range(MAX_EVENT // 65536 + 2):
            blocks.feed(b"x" * 65536)


@asynccontextmanager
async def answering(answer: bytes, then_stall: bool = False) -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n{}")
        writer.write(answer)
        await writer.drain()
        if then_stall:
            await asyncio.sleep(3600)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


def test_a_json_body_and_an_error_body_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_http, "MAX_BODY", 1000)
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + b"{" + b" " * 4999

    async def main() -> None:
        async with answering(big) as url:
            response = await HTTPClient(url).post("/x", b"{}")
            with pytest.raises(InternalError, match="sent a body over"):
                await read_json(response, "up")
        # An error body that never ends: its start is what the caller is shown, and nothing waits for the rest.
        endless_error = b"HTTP/1.1 500 Oops\r\ncontent-length: 1000000000\r\n\r\n" + b"e" * 200_000
        async with answering(endless_error, then_stall=True) as url:
            with pytest.raises(InternalError) as caught:
                await upstream_http.UpstreamClient(url, 2, {}).post("/x", b"{}", "up")
            assert caught.value.message.startswith("upstream up answered 500: eeee")

    asyncio.run(main())
