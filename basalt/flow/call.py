"""The per-call record: who calls, what they asked, and what each stage of the flow found out about it.

A dialect (or a batch worker, an evaluation run, the in-process client) builds a `Call` from what it decoded and
hands it to `Flow.answer`; every stage writes what it learns into the record and later stages, the meter included,
read it from there. Nothing about a call travels on the request object or through closures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..canonical import MessagesRequest
from ..control import Principal, Ticket
from ..guarding import GuardedAnswer
from ..providers.base import ModelInfo, Provider
from ..router import Attempt


@dataclass(frozen=True)
class CallOptions:
    """What a dialect decoded beside the request: guardrails the caller added (`name:version` references, which
    can only add to those an admin attached) and whether to return the guardrail trace."""

    guardrails: tuple[str, ...] = ()
    trace: bool = False


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


@dataclass(eq=False)
class Call:
    principal: Principal
    request: MessagesRequest  # as the caller sent it
    endpoint: str  # the endpoint scope: "messages", "chat.completions", ...
    request_id: str
    options: CallOptions = field(default_factory=CallOptions)
    # Filled by the stages, in this order.
    target: Target | None = None
    ticket: Ticket | None = None
    guard: GuardedAnswer | None = None  # the attached guardrails and what they did
    sent: MessagesRequest | None = None  # what went to the model: the request after input guardrails masked it
    attempts: list[Attempt] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

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
