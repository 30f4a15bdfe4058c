"""The streaming response and the disconnect watcher, driven directly as ASGI: what goes out in which write, and a
client that leaves mid-answer closing the stream behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import Request

from basalt.canonical.events import EventBatch
from basalt.http.plumbing import EventStreamResponse, first_and_rest, unless_disconnected, until_disconnected

START: EventBatch = [{"type": "message_start", "message": {"id": "m"}}]
DELTA: EventBatch = [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}]
END: EventBatch = [{"type": "message_delta", "delta": {}}, {"type": "message_stop"}]


class Client:
    """The ASGI side of one connection: records what the app sends; `leave()` disconnects."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.receives = 0
        self._gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        self.receives += 1
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self._gone.set()

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


def encode(event: dict[str, Any]) -> bytes:
    return event["type"].encode() + b";"


async def respond(batches: AsyncIterator[EventBatch], client: Client) -> None:
    response = EventStreamResponse(await first_and_rest(batches), encode, lambda exc: b"error;")
    await response({"type": "http"}, client.receive, client.send)


def test_an_answer_ready_at_once_is_one_write_and_needs_no_watcher() -> None:
    async def batches() -> AsyncIterator[EventBatch]:
        for batch in (START, DELTA, DELTA, END):
            yield batch

    client = Client()
    asyncio.run(respond(batches(), client))
    assert client.bodies() == [b"message_start;content_block_delta;content_block_delta;message_delta;message_stop;"]
    assert client.sent[-1]["more_body"] is False
    assert client.receives == 0


def test_what_is_ready_goes_out_before_the_stream_waits() -> None:
    later = asyncio.Event()

    async def batches() -> AsyncIterator[EventBatch]:
        yield START
        yield DELTA
        await later.wait()
        yield END

    async def go() -> Client:
        client = Client()
        response = asyncio.ensure_future(respond(batches(), client))
        while not client.bodies():
            await asyncio.sleep(0)
        assert client.bodies() == [b"message_start;content_block_delta;"]  # sent while the stream waits
        later.set()
        await response
        return client

    client = asyncio.run(go())
    assert client.bodies() == [b"message_start;content_block_delta;", b"message_delta;message_stop;"]
    assert [m["more_body"] for m in client.sent[1:]] == [True, False]


def test_a_client_that_leaves_closes_the_stream_it_was_waiting_on() -> None:
    closed = []

    async def batches() -> AsyncIterator[EventBatch]:
        try:
            yield START
            await asyncio.sleep(3600)
            yield END
        finally:
            closed.append(True)

    async def go() -> None:
        client = Client()
        response = asyncio.ensure_future(respond(batches(), client))
        while not client.bodies():
            await asyncio.sleep(0)
        client.leave()
        await asyncio.wait_for(response, 5)  # ends quietly, not cancelled: the client is gone, not the server

    asyncio.run(go())
    assert closed == [True]


def test_an_error_mid_stream_ends_it_in_the_callers_dialect() -> None:
    from basalt.errors import InternalError

    async def batches() -> AsyncIterator[EventBatch]:
        yield START
        raise InternalError("upstream broke")

    client = Client()
    asyncio.run(respond(batches(), client))
    assert b"".join(client.bodies()) == b"message_start;error;"
    assert client.sent[-1]["more_body"] is False


def _request(client: Client) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": []}, client.receive)


def test_unless_disconnected_cancels_waiting_work_when_the_client_leaves() -> None:
    async def go() -> None:
        client = Client()
        started = asyncio.Event()

        async def work() -> int:
            started.set()
            await asyncio.sleep(3600)
            return 1

        task = asyncio.ensure_future(unless_disconnected(_request(client), work()))
        await started.wait()
        client.leave()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)

    asyncio.run(go())


def test_unless_disconnected_runs_work_that_needs_no_wait_without_a_watcher() -> None:
    async def work() -> int:
        return 42

    async def go() -> tuple[int, int]:
        client = Client()
        return await unless_disconnected(_request(client), work()), client.receives

    assert asyncio.run(go()) == (42, 0)


def test_under_until_disconnected_the_wait_for_the_first_event_is_watched() -> None:
    closed = []

    async def batches() -> AsyncIterator[EventBatch]:
        try:
            await asyncio.sleep(3600)  # an upstream that has not answered yet (or a retry's backoff)
            yield START
        finally:
            closed.append(True)

    async def go() -> Client:
        client = Client()

        async def handle() -> None:
            await respond(batches(), client)

        request = asyncio.ensure_future(until_disconnected(client.receive, handle))
        while not client.receives:
            await asyncio.sleep(0)
        client.leave()
        await asyncio.wait_for(request, 5)  # ends quietly, not cancelled: the client is gone, not the server
        return client

    client = asyncio.run(go())
    assert closed == [True] and client.sent == []  # nothing was answered, and the stream was closed
    assert client.receives == 1  # one watcher for the whole request, the response's wait included


def test_under_until_disconnected_an_answer_ready_at_once_needs_no_watcher() -> None:
    async def batches() -> AsyncIterator[EventBatch]:
        for batch in (START, END):
            yield batch

    async def go() -> Client:
        client = Client()

        async def at_once() -> int:
            return 1

        async def handle() -> None:
            await respond(batches(), client)
            assert await unless_disconnected(_request(client), at_once()) == 1

        await until_disconnected(client.receive, handle)
        return client

    client = asyncio.run(go())
    assert client.bodies() == [b"message_start;message_delta;message_stop;"] and client.receives == 0
