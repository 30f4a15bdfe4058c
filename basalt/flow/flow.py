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
from ..control import ControlPlane
from ..guard import Guardrails
from ..guarding import GuardedAnswer, attached, replay
from ..providers.base import EventBatch
from ..router import Attempt, Router
from .call import Call, Target


class Flow:
    def __init__(
        self, catalog: Catalog, control: ControlPlane, guardrails: Guardrails, model_guardrails: Mapping[str, str]
    ) -> None:
        self.catalog = catalog
        self.control = control
        self.guardrails = guardrails
        self.model_guardrails = model_guardrails

    async def answer(self, call: Call) -> AsyncIterator[EventBatch]:
        """The call's answer as canonical event batches. Errors found before admission (unknown model, limits,
        an unknown guardrail) are raised here; later ones come out of the stream, before its first batch where the
        provider can tell."""
        self._resolve(call)
        guardrails = await attached(
            self.guardrails, self.model_guardrails, call.principal, call.request.model, call.options.guardrails
        )
        ticket = await self.control.admit(call.principal, call.request, call.endpoint, call.request_id, call)
        call.ticket = ticket
        call.timings.admitted = time.monotonic()
        if not guardrails:
            call.sent = call.request
            return ticket.meter(self._route(call))
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
            return ticket.meter(replay(refusal))
        return ticket.meter(guard.check_output(call.sent, self._route(call)))

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
        if isinstance(target.provider, Router):  # several deployments: the router records each of its attempts
            return target.provider.stream(call.sent, call.request.model, call.attempts)
        call.attempts.append(Attempt(f"local:{target.model_id}"))
        return target.provider.stream(call.sent, call.request.model)
