"""What watches calls end: metrics, traces and the access log read the finished record, and nothing else.

An observer sees each call once, after its outcome is complete (answered, refused, failed or left), on the event
loop that served it; it must be quick and must not raise (a failing observer is logged and the call goes on)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from .call import Call

log = logging.getLogger("basalt.flow")


class Observer(Protocol):
    def call_ended(self, call: Call) -> None: ...


class Observers:
    """The observers of one flow, told in order."""

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self.observers = list(observers)

    def add(self, observer: Observer) -> None:
        self.observers.append(observer)

    def ended(self, call: Call) -> None:
        call.outcome.ended = time.monotonic()
        for observer in self.observers:
            try:
                observer.call_ended(call)
            except Exception:
                log.exception("observer %r failed on %s", observer, call.request_id)
