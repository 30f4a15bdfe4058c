"""The one path from a decoded request to its answer, for every entry point.

    resolve (once) -> admit -> input guardrails -> route -> output guardrails -> meter

Each stage fills in the call's record (`Call`); the answer is the canonical event stream, metered: its ledger row
settles however the stream ends. Nothing here knows HTTP: a dialect decodes its wire format and headers into a
`Call`, and encodes the events and the record's rate-limit state back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping

from ..catalog import Catalog
from ..control import ControlPlane, Ticket
from ..errors import BasaltError, InvalidRequest
from ..guard import Guardrails
from ..guarding import GuardedAnswer, attached, replay
from ..providers.base import CURRENT_ATTEMPT, EventBatch, open_stream
from ..router import Attempt, Router
from .call import Call, Target
from .meter import metered
from .observe import Observers


class Flow:
    def __init__(
        self,
        catalog: Catalog,
        control: ControlPlane,
        guardrails: Guardrails,
        model_guardrails: Mapping[str, str],
        observers: Observers | None = None,
    ) -> None:
        self.catalog = catalog
        self.control = control
        self.guardrails = guardrails
        self.model_guardrails = model_guardrails
        self.observers = observers or Observers()

    async def answer(self, call: Call) -> AsyncIterator[EventBatch]:
        """The call's answer as canonical event batches. Errors found before admission (unknown model, limits,
        an unknown guardrail) are raised here; later ones come out of the stream, before its first batch where the
        provider can tell. Observers see the call once, when its outcome is complete, however it ended."""
        try:
            return await self._answer(call)
        except BaseException as exc:  # refused before any answer: the outcome is the error
            call.outcome.error = exc if isinstance(exc, BasaltError) else None
            call.outcome.status = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
            self.observers.ended(call)
            raise

    async def _answer(self, call: Call) -> AsyncIterator[EventBatch]:
        call.trace_id = call.trace_id or call.options.caller_trace_id
        self.observers.started(call)
        self._resolve(call)
        guardrails = await attached(
            self.guardrails, self.model_guardrails, call.principal, call.request.model, call.options.guardrails
        )
        raw = call.request.raw_prompt
        if guardrails and raw is not None and raw.tokens is not None:  # input guardrails read text, not token ids
            raise InvalidRequest("prompt: this model's guardrails read text; send the prompt as text", param="prompt")
        ticket = await self.control.admit(call.principal, call.request, call.endpoint, call.request_id, call)
        call.ticket = ticket
        call.timings.admitted = time.monotonic()
        if not guardrails:
            call.sent = call.request
            return self._metered(call, ticket, self._route(call))
        guard = call.guard = GuardedAnswer(guardrails, call.options.trace)
        try:
            call.sent, refusal = await guard.check_input(call.request)
        except asyncio.CancelledError:  # the client left while its input was checked
            ticket.settle({}, "cancelled")
            raise
        except BaseException as exc:
            ticket.settle({}, "error", getattr(exc, "error_type", "api_error"))
            raise
        if refusal is not None:  # a blocked request never reaches the model
            return self._metered(call, ticket, replay(refusal))
        return self._metered(call, ticket, guard.check_output(call.sent, self._route(call)))

    def _metered(self, call: Call, ticket: Ticket, events: AsyncIterator[EventBatch]) -> AsyncIterator[EventBatch]:
        return metered(call, ticket, events, self.observers.ended)

    async def count_tokens(self, call: Call) -> int:
        """The prompt's size in tokens, as the model that would answer it counts them (not admitted or metered)."""
        call.principal.require_endpoint(call.endpoint)
        call.principal.require_model(call.request.model)
        target = self._resolve(call)
        return await target.provider.count_tokens(call.request, call.request.model)

    def _resolve(self, call: Call) -> Target:
        """The model name's provider: an unknown model is a 404 before anything is admitted."""
        if call.target is None:
            provider, model_id, info = self.catalog.resolve(call.request.model)
            call.target = Target(provider, model_id, info)
        return call.target

    def _route(self, call: Call) -> AsyncIterator[EventBatch]:
        target = call.target
        assert target is not None and call.sent is not None
        begin = self.observers.attempt_hook(call)
        priority = call.options.priority
        if isinstance(target.provider, Router):  # several deployments: the router records each of its attempts
            return target.provider.stream(call.sent, call.request.model, call.attempts, begin, priority)
        attempt = Attempt(f"local:{target.model_id}")
        call.attempts.append(attempt)
        if begin is not None:
            begin(attempt)
        return tried(attempt, open_stream(target.provider, call.sent, call.request.model, priority))


async def tried(attempt: Attempt, events: AsyncIterator[EventBatch]) -> AsyncIterator[EventBatch]:
    """A provider's events as one try: the current one during the provider's first step (where it starts its work:
    the local model keeps the try to report its phases on), and ended when the stream ends."""
    current = CURRENT_ATTEMPT.set(attempt)
    try:
        first = await anext(events, None)
    except BaseException:
        attempt.ended = time.monotonic()
        await events.aclose()  # type: ignore[attr-defined]
        raise
    finally:
        CURRENT_ATTEMPT.reset(current)
    try:
        if first is None:
            return
        yield first
        async for batch in events:
            yield batch
    finally:
        attempt.ended = time.monotonic()
        await events.aclose()  # type: ignore[attr-defined]
