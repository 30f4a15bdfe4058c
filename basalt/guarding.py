"""The guardrail steps of the flow: which guardrails apply to a request, the input check before the model, and the
output check on its event stream.

Every guardrail attached to the model, the project, the key or the request applies, in that order: a caller can add
a guardrail with the `basalt-guardrail: name:version` header but never remove one an admin attached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass

from .canonical import MessagesRequest
from .control import Principal
from .errors import InvalidRequest
from .guard import (
    Action,
    GuardedStream,
    Guardrail,
    Guardrails,
    InputVerdict,
    check_request,
    grounding_context,
    guard_stream,
    refusal_events,
)
from .providers.base import EventBatch

HEADER = "basalt-guardrail"  # how HTTP callers add guardrails (the dialects decode it into the call's options)
TRACE_HEADER = "basalt-guardrail-trace"
LEDGER_ACTIONS = {Action.NONE: None, Action.ANONYMIZED: "ANONYMIZED", Action.INTERVENED: "INTERVENED"}


MAX_ADDED = 16  # guardrails one request may add: each is a lookup, and a check of the whole request


def added_by_header(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The guardrail references an HTTP caller added in the `basalt-guardrail` header (comma-separated)."""
    refs = tuple(dict.fromkeys(r for value in headers.get(HEADER, "").split(",") if (r := value.strip())))
    if len(refs) > MAX_ADDED:
        raise InvalidRequest(f"{HEADER}: at most {MAX_ADDED} guardrails a request, got {len(refs)}", param=HEADER)
    return refs


def parse_ref(ref: str) -> tuple[str, str]:
    name, _, version = ref.strip().partition(":")
    return name, version or "DRAFT"


async def attached(
    registry: Guardrails,
    by_model: Mapping[str, str],
    principal: Principal,
    model: str,
    added: Iterable[str] = (),
) -> list[Guardrail]:
    """The guardrails of the model, the project, the key, then those the caller `added` (`name:version`)."""
    refs = [
        by_model.get(model),
        principal.project and principal.project.guardrail,
        principal.key and principal.key.guardrail,
        *added,
    ]
    out: list[Guardrail] = []
    for ref in refs:
        if not ref:
            continue
        name, version = parse_ref(ref)
        guardrail = await registry.find(name, version)  # from memory; a definition made on another replica once
        if guardrail is None:
            raise InvalidRequest(f"guardrail {name!r} version {version!r} is not defined", param=HEADER)
        if guardrail not in out:
            out.append(guardrail)
    return out


@dataclass(eq=False)
class GuardCheck:
    """One guardrail's check of a call: on its input (started and ended here) or on its output stream (which it
    watches until the stream ends, so `ended` stays None: the call's end is its end)."""

    guardrail: Guardrail
    stage: str  # "input" or "output"
    outcome: GuardedStream | InputVerdict
    started: float  # monotonic seconds
    ended: float | None = None

    @property
    def action(self) -> Action:
        return self.outcome.action

    @property
    def policies(self) -> tuple[str, ...]:
        """The policy types whose findings acted (blocked or masked), e.g. `wordPolicy`; detect-only ones did not."""
        return tuple(sorted({f.policy.value for f in self.outcome.findings if f.action != "NONE"}))


class GuardedAnswer:
    """Runs the input checks, then wraps the provider's events in the output checks; `action` is the worst of all,
    `checks` each guardrail's check, in order, for traces and metrics."""

    def __init__(self, guardrails: list[Guardrail], trace: bool) -> None:
        self.guardrails = guardrails
        self.trace = trace
        self.checks: list[GuardCheck] = []

    @property
    def action(self) -> str | None:
        worst = max((check.action for check in self.checks), key=list(Action).index, default=Action.NONE)
        return LEDGER_ACTIONS[worst]

    async def check_input(self, request: MessagesRequest) -> tuple[MessagesRequest, EventBatch | None]:
        """The request to send on (masked where a policy anonymizes), or the refusal that answers instead."""
        for guardrail in self.guardrails:
            started = time.monotonic()
            verdict = await asyncio.to_thread(check_request, guardrail, request)
            self.checks.append(GuardCheck(guardrail, "input", verdict, started, time.monotonic()))
            if verdict.blocked:
                trace = verdict.trace() if self.trace else None
                return request, refusal_events(request.model, verdict.blocked_message or "", trace)
            request = verdict.request
        return request, None

    def check_output(self, request: MessagesRequest, events: AsyncIterator[EventBatch]) -> AsyncIterator[EventBatch]:
        grounding = grounding_context(request)
        started = time.monotonic()
        for guardrail in self.guardrails:
            guarded = guard_stream(guardrail, events, trace=self.trace, grounding=grounding, whole=not request.stream)
            self.checks.append(GuardCheck(guardrail, "output", guarded, started))
            events = aiter(guarded)  # an async generator: closing it closes the stream under it
        return events


async def replay(events: EventBatch) -> AsyncIterator[EventBatch]:
    yield events
