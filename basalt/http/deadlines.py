"""uvicorn's httptools connection with deadlines for a request's headers and body.

uvicorn only closes connections idle between requests (`timeout_keep_alive`), and any byte resets that: a client
that trickles its headers or its body (slowloris) holds a connection, its buffers and, for a body, a request task for
as long as it likes. Here a request's headers must all arrive within `header_timeout` of its first byte (a new
connection's within `header_timeout` of opening), and its body within `body_timeout` of its headers; past that the
client gets a 408 and the connection is closed.

A deadline is set only when a read leaves a request unfinished: a request that arrives whole in one read, as nearly
all do, sets no timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from starlette.responses import Response
from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LateBody = Callable[[Scope, float], Response]  # the 408 to send, in the dialect of the request's route
_IDLE, _HEADERS, _BODY = 0, 1, 2


def timed_protocol(headers: float, body: float, late: LateBody) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn as `http`: deadlines of `headers` and `body` seconds."""

    class TimedHttpToolsProtocol(_TimedProtocol):
        header_timeout = headers
        body_timeout = body
        late_body = staticmethod(late)

    return TimedHttpToolsProtocol


class _TimedProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 60.0
    late_body: LateBody
    _phase = _IDLE  # where the request being read is
    _timed = _IDLE  # which phase the armed timer is for
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm(_HEADERS)  # a connection that opens and sends nothing

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase != self._timed:  # never re-armed within a phase: trickling does not buy time
            self._disarm()
            if self._phase != _IDLE:
                self._arm(self._phase)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _HEADERS

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = _BODY

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = _IDLE

    def _arm(self, phase: int) -> None:
        seconds = self.header_timeout if phase == _HEADERS else self.body_timeout
        self._timer = self.loop.call_later(seconds, self._late)
        self._timed = phase

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timed = _IDLE

    def _late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        answering = self.cycle is not None and not self.cycle.response_complete  # a pipelined request's turn
        if self._timed == _BODY:
            self._body_late()
        elif self._phase == _HEADERS and not answering:  # a silent new connection is just closed
            what = f"The request headers did not arrive within {self.header_timeout:g} s."
            self._write(Response(what, 408, media_type="text/plain"))
        self.transport.close()

    def _body_late(self) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_started or self.pipeline:
            return  # answered already (without the body), or queued behind another request's answer: just close
        self._write(self.late_body(dict(self.scope), self.body_timeout))
        # The request's task reads an http.disconnect and whatever it sends now is dropped.
        cycle.disconnected = True
        cycle.message_event.set()

    def _write(self, response: Response) -> None:
        status = response.status_code
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in response.raw_headers]
        self.transport.write(b"".join([*head, b"connection: close\r\n\r\n", response.body]))
