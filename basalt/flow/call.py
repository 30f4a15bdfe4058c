"""The per-call record: who calls, what they asked, and what each stage of the flow found out about it.

A dialect (or a batch worker, an evaluation run, the in-process client) builds a `Call` from what it decoded and
hands it to `Flow.answer`; every stage writes what it learns into the record and later stages, the meter included,
read it from there. Nothing about a call travels on the request object or through closures.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from ..canonical import MessagesRequest
from ..control import Principal, Ticket
from ..errors import BasaltError
from ..guarding import GuardedAnswer
from ..providers.base import ModelInfo, Priority, Provider
from ..router import Attempt

_TRACEPARENT = re.compile(r"[0-9a-e][0-9a-f]-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(?:-.*)?")


@dataclass(frozen=True)
class CallOptions:
    """What a dialect decoded beside the request: guardrails the caller added (`name:version` references, which
    can only add to those an admin attached) and whether to return the guardrail trace. `priority` is how the call
    is scheduled where capacity is shared: "batch" work (a batch worker sets it on each item) only fills what
    "interactive" calls leave."""

    guardrails: tuple[str, ...] = ()
    trace: bool = False
    traceparent: str | None = None  # the caller's W3C trace context, continued by the call's spans
    tracestate: str | None = None
    priority: Priority = "interactive"

    @property
    def caller_trace_id(self) -> str | None:
        """The trace id of a well-formed `traceparent` (W3C Trace Context), else None."""
        match = _TRACEPARENT.fullmatch(self.traceparent.strip().lower()) if self.traceparent else None
        if match is None or match[1] == "0" * 32 or match[2] == "0" * 16:
            return None
        return match[1]


@dataclass(frozen=True)
class Target:
    """What the model name resolved to: the provider, the model's id there, and its description."""

    provider: Provider
    model_id: str
    info: ModelInfo


@dataclass
class Timings:
    """Monotonic seconds: when the call was accepted and when it was admitted."""

    accepted: float = field(default_factory=time.monotonic)
    admitted: float | None = None


@dataclass
class Outcome:
    """How the call ended, filled in by the meter stage (or by the stage that refused it) before observers see it."""

    status: str = "error"  # "ok", "error" or "cancelled" (the client left)
    error: BasaltError | None = None  # what ended it, when the flow raised or the stream failed
    usage: dict[str, Any] = field(default_factory=dict)  # the answer's usage, in Anthropic's field names
    stop_reason: str | None = None
    response_id: str | None = None
    first_token: float | None = None  # monotonic seconds of the first content delta
    output_deltas: int = 0  # content deltas seen (the output count when the provider gave none)
    ended: float | None = None  # monotonic seconds
    message: dict[str, Any] | None = None  # the answer as the caller got it, folded; kept only for `keep_output`


@dataclass(eq=False)
class Call:
    principal: Principal
    request: MessagesRequest  # as the caller sent it
    endpoint: str  # the endpoint scope: "messages", "chat.completions", ...
    request_id: str
    options: CallOptions = field(default_factory=CallOptions)
    dialect: str = "anthropic"  # the entry point's wire dialect ("anthropic", "openai", ...) or "batch", "eval"
    trace_id: str | None = None  # 32 hex digits: the trace this call belongs to (the caller's, or one tracing began)
    tracing: object | None = None  # what tracing keeps about a call it follows (basalt/observe/tracing.py)
    keep_output: bool = False  # an observer wants the answer's content (opt-in trace content): the meter folds it
    batch_id: str | None = None  # the batch whose item this call is (its ledger row carries it); None: interactive
    # Filled by the stages, in this order.
    target: Target | None = None
    ticket: Ticket | None = None
    guard: GuardedAnswer | None = None  # the attached guardrails and what they did
    sent: MessagesRequest | None = None  # what went to the model: the request after input guardrails masked it
    attempts: list[Attempt] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    outcome: Outcome = field(default_factory=Outcome)

    @property
    def guardrail_action(self) -> str | None:
        """The worst action of any attached guardrail so far: None, "ANONYMIZED" or "INTERVENED"."""
        return self.guard.action if self.guard is not None else None

    @property
    def deployment(self) -> str | None:
        """The deployment that answered: the last attempt's, if it got an answer."""
        if self.attempts and self.attempts[-1].error is None:
            return self.attempts[-1].deployment
        return None
