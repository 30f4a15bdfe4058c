"""What watches calls: metrics, traces and the access log read the finished record, and nothing else.

An observer sees each call once, after its outcome is complete (answered, refused, failed or left), on the event
loop that served it; it must be quick and must not raise (a failing observer is logged and the call goes on).

Two more hooks are optional, for an observer that must act while the call runs (tracing: the call's span is
started, and each upstream try sends a `traceparent` naming its own span): `call_started(call)`, once the call is
accepted, and `attempt_started(call, attempt)`, before each try's request goes out. An observer without them (the
metrics) implements `call_ended` alone; with no observer having them the flow does nothing more per call."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from ..router import Attempt
from .call import Call

log = logging.getLogger("basalt.flow")


class Observer(Protocol):
    def call_ended(self, call: Call) -> None: ...


class Observers:
    """The observers of one flow, told in order."""

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self.observers: list[Observer] = []
        self._starting: list[Callable[[Call], None]] = []
        self._attempting: list[Callable[[Call, Attempt], None]] = []
        for observer in observers:
            self.add(observer)

    def add(self, observer: Observer) -> None:
        self.observers.append(observer)
        starting = getattr(observer, "call_started", None)
        if starting is not None:
            self._starting.append(starting)
        attempting = getattr(observer, "attempt_started", None)
        if attempting is not None:
            self._attempting.append(attempting)

    def started(self, call: Call) -> None:
        for starting in self._starting:
            try:
                starting(call)
            except Exception:
                log.exception("observer %r failed as %s started", starting, call.request_id)

    def attempt_hook(self, call: Call) -> Callable[[Attempt], None] | None:
        """What to tell as each of the call's tries starts; None when no observer asks (nothing to call per try)."""
        if not self._attempting:
            return None

        def begin(attempt: Attempt) -> None:
            for attempting in self._attempting:
                try:
                    attempting(call, attempt)
                except Exception:
                    log.exception("observer %r failed as a try of %s started", attempting, call.request_id)

        return begin

    def ended(self, call: Call) -> None:
        call.outcome.ended = time.monotonic()
        for observer in self.observers:
            try:
                observer.call_ended(call)
            except Exception:
                log.exception("observer %r failed on %s", observer, call.request_id)
