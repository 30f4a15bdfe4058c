"""The HTTP edge's view of each request: when it arrived, the status that went back, when its response ended.

`Edge.serve` wraps the whole app for one request (guard refusals, the direct generation routes and FastAPI's routes
alike) and tells each `EdgeObserver` (the access log; request metrics may hang here too) once the response is sent,
a stream's last byte included, or the request ended without one (the client left). What the request was about, the
observers read from the scope: the `flow.Call` a generation route left under `plumbing.CALL`, the principal other
routes left under `plumbing.PRINCIPAL`, the error type under `plumbing.ERROR_TYPE`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from starlette.types import Message, Receive, Scope, Send

log = logging.getLogger("basalt.http")
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(eq=False, slots=True)
class Exchange:
    """One request at the edge. Times are monotonic seconds; `status` is None when no response was started."""

    scope: Scope
    started: float
    status: int | None = None
    ended: float = 0.0


class EdgeObserver(Protocol):
    def request_ended(self, exchange: Exchange) -> None: ...


class Edge:
    def __init__(self, observers: Sequence[EdgeObserver]) -> None:
        self.observers = list(observers)

    async def serve(self, app: ASGI, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = Exchange(scope, time.monotonic())

        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_noting)
        finally:  # told however the request ended: answered, failed in the server, or cancelled
            exchange.ended = time.monotonic()
            for observer in self.observers:
                try:
                    observer.request_ended(exchange)
                except Exception:  # an observer never breaks a request
                    log.exception("edge observer %r failed", observer)
