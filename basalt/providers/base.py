"""The narrow interface every provider implements."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ..canonical import MessagesRequest
from ..canonical.events import Event, EventBatch
from ..errors import InvalidRequest

__all__ = [
    "CURRENT_ATTEMPT",
    "Attempt",
    "Event",
    "EventBatch",
    "ModelInfo",
    "Phase",
    "Prioritized",
    "Priority",
    "Provider",
    "UpstreamFactory",
    "open_stream",
    "refuse_logprobs",
    "refuse_penalties",
    "refuse_raw_prompt",
    "refuse_unknown_fields",
]

# How a call is scheduled where capacity is shared: batch work fills only what interactive calls leave.
Priority = Literal["interactive", "batch"]


@dataclass(frozen=True)
class ModelInfo:
    id: str
    display_name: str
    created_at: str  # RFC 3339
    owned_by: str = "basalt"
    context_window: int | None = None


@dataclass(frozen=True)
class Phase:
    """A stretch of a try that its provider reports: the local model's queue wait, prefill and decode."""

    name: str
    started: float  # monotonic seconds
    ended: float


@dataclass
class Attempt:
    """One try of one deployment, as the per-call record keeps it: which deployment, when, and how it ended."""

    deployment: str
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    error: str | None = None  # the error type that ended it; None while it runs and when it answered
    then: str | None = None  # after an error: "retry" (same deployment), "fallback" (the next one) or "give up"
    cooled: bool = False  # the deployment was put to rest (cooldown) after this, its last try
    headers: dict[str, str] = field(default_factory=dict)  # sent upstream beside the request: its trace context
    phases: list[Phase] = field(default_factory=list)  # what the provider reported about the try


# The try in progress, set by whoever makes it (the router, the flow) around the provider's first step, which is
# where a provider sends its request: an HTTP upstream adds the try's `headers`, the local model keeps the try to
# report its phases on. Ambient, as OpenTelemetry's own context is, so that the Provider protocol stays
# `stream(request, model)` for every provider.
CURRENT_ATTEMPT: ContextVar[Attempt | None] = ContextVar("basalt_attempt", default=None)


class Provider(Protocol):
    def models(self) -> list[ModelInfo]:
        """The models this provider serves, under their own ids."""
        ...

    def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        """Answer as canonical events, in batches of those ready together. Errors found before the first event must
        be raised before it is yielded (or by this call itself), so the caller can still answer with an HTTP error
        status."""
        ...

    async def count_tokens(self, request: MessagesRequest, model: str) -> int: ...

    async def aclose(self) -> None:
        """Release what the current event loop holds (upstream connections); the provider may be used again on
        another loop."""
        ...


@runtime_checkable
class Prioritized(Protocol):
    """A provider that schedules its own capacity (the local engine) and so takes the call's priority. A capability
    beside `Provider` rather than a new argument of every provider's `stream`: upstreams never see the priority (the
    router bounds batch calls to them), so their signatures, and the seam between the flow and them, stay as they are.
    """

    def stream_at(self, priority: Priority, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]: ...


def open_stream(
    provider: Provider, request: MessagesRequest, model: str, priority: Priority = "interactive"
) -> AsyncIterator[EventBatch]:
    """`provider.stream`, at `priority` where the provider schedules by it. Interactive calls, the usual case, skip
    the protocol check (a runtime-checkable isinstance costs microseconds)."""
    if priority != "interactive" and isinstance(provider, Prioritized):
        return provider.stream_at(priority, request, model)
    return provider.stream(request, model)


class UpstreamFactory(Protocol):
    """How a deployment in the config becomes a provider: every upstream provider's class is one."""

    def __call__(
        self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float
    ) -> Provider: ...


def refuse_penalties(request: MessagesRequest, upstream: str) -> None:
    """For upstreams without OpenAI's repetition penalties: a clear 400 rather than a silent drop."""
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(request, name):
            raise InvalidRequest(f"{name} cannot be expressed in the {upstream} API; leave it at 0", param=name)


def refuse_logprobs(request: MessagesRequest, upstream: str) -> None:
    """For upstreams whose API reports no log-probabilities (Anthropic, Bedrock, Gemini): a 400, not a silent drop."""
    if request.logprobs is not None:
        raise InvalidRequest(f"logprobs cannot be returned by {upstream}; use the local model", param="logprobs")
    refuse_raw_prompt(request, upstream)


def refuse_raw_prompt(request: MessagesRequest, upstream: str) -> None:
    """The legacy Completions API's raw prompt (no chat template) reaches only the local model."""
    if request.raw_prompt is not None:
        raise InvalidRequest(
            f"a raw prompt (POST /v1/completions) cannot be sent to {upstream}; use the local model", param="prompt"
        )


def refuse_unknown_fields(request: MessagesRequest, upstream: str) -> None:
    """For providers that translate: a field Basalt does not know cannot be translated, so it is refused by name
    (only an Anthropic-protocol upstream receives such fields, as the client sent them)."""
    unknown = request.unknown_fields()
    if unknown:
        raise InvalidRequest(
            f"{', '.join(unknown[:5])}: Extra inputs are not permitted on {upstream} (only Anthropic-protocol "
            "upstreams receive fields Basalt does not know)",
            param=unknown[0],
        )
