"""Traces: one OpenTelemetry span tree per call, exported over OTLP/HTTP (docs/observability.md, "Traces").

    chat smollm2                 SERVER    the call; continues the caller's `traceparent`
      admit                      INTERNAL  limits and budget (a refusal ends here, with its error.type)
      guardrail.input            INTERNAL  one per attached guardrail, in order
      chat gpt-4o-mini           CLIENT    one per upstream try: its deployment, why it was retried or left;
                                           its upstream received a `traceparent` naming this span
      chat smollm2-135m-instruct INTERNAL  the local model's try, with three children:
        engine.queue / engine.prefill / engine.decode
      guardrail.output           INTERNAL  one per attached guardrail, over the stream it watched

How: every span is made when the call ends, from the times the flow's stages wrote on the record, as the SDK's
finished span (`ReadableSpan`, what span processors and exporters take), and handed to its BatchSpanProcessor. Only
what must be known while the call runs is decided as it starts: the trace, the sampling decision (the SDK's
sampler), and the ids of the call's span and of each try's (the SDK's id generator), since each upstream's
`traceparent` names its try's span (written by the SDK's W3C propagator). So the stages carry no tracing code, one
observer reads the finished record, and a span costs one object. The SDK's live `Span` (locks, limits, events, a
sampler and a processor call per span) cost more than the rest of a gateway call together (measured by
bench/tracing.py), for spans whose whole life is already on the record.

Off (the default) it costs nothing: wiring does not import this module, no observer is added, and the flow's only
trace work per call is looping over an empty list. On, the event loop only builds spans: the BatchSpanProcessor
encodes and exports them from its own thread. Sampling is parent-based: a caller's sampled flag is honoured, and
the ratio decides for the traces Basalt starts; a call not sampled still sends its trace context upstream (flag 00).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..config import TracingSettings
from ..flow import Attempt, Call
from ..guard import Action
from . import trace_content

OPERATIONS = {"messages": "chat", "chat.completions": "chat"}  # endpoint -> gen_ai.operation.name
# The deployment's provider (its registry name) as gen_ai.provider.name; a name the conventions do not list is
# written as it is. The bundled model is served by Basalt itself.
PROVIDER_NAMES = {"anthropic": "anthropic", "openai": "openai", "bedrock": "aws.bedrock", "gemini": "gcp.gemini"}
LOCAL_PROVIDER = "basalt"
ADMISSION_REFUSALS = {"rate_limit_error", "billing_error", "permission_error", "authentication_error"}
MAX_CONTENT = 64 << 10  # characters of one captured content attribute
_DEPLOYMENT = re.compile(r"([^:]+):(.*)@(https?://.*)")  # wiring's label: provider:model@base_url
_PROPAGATOR = TraceContextTextMapPropagator()
_UNSET = Status(StatusCode.UNSET)


def headers_from_env(names: Mapping[str, str]) -> dict[str, str]:
    """The exporter's headers: each value from the environment variable named for it (never the YAML)."""
    headers = {}
    for header, variable in names.items():
        value = os.environ.get(variable)
        if value is None:
            raise ValueError(f"observability.tracing.headers_env: {header} names {variable}, which is not set")
        headers[header] = value
    return headers


@dataclass(eq=False)
class _Followed:
    """What tracing keeps on a call (`call.tracing`): its trace, its span's id and its tries' span ids."""

    trace_id: int
    span_id: int
    parent: SpanContext | None  # the caller's span
    flags: TraceFlags
    state: TraceState
    offset: int  # wall-clock ns minus monotonic ns, taken as the call started
    tries: list[tuple[Attempt, int]] = field(default_factory=list)

    def ns(self, monotonic: float) -> int:
        return int(monotonic * 1e9) + self.offset

    def context(self, span_id: int) -> SpanContext:
        return SpanContext(self.trace_id, span_id, False, self.flags, self.state)


class Tracing:
    """The flow observer that traces calls; `shutdown()` exports what is left (at Platform.stop)."""

    def __init__(self, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
        self.capture = settings.capture_content
        self.resource = Resource.create({"service.name": settings.service_name})
        self.scope = InstrumentationScope("basalt")
        self.sampler = ParentBased(TraceIdRatioBased(settings.sampling_ratio))
        self.ids = RandomIdGenerator()
        if exporter is None:
            exporter = OTLPSpanExporter(endpoint=settings.endpoint, headers=headers_from_env(settings.headers_env))
        self.processor = BatchSpanProcessor(exporter)

    def flush(self) -> None:
        self.processor.force_flush()

    def shutdown(self) -> None:
        self.processor.shutdown()  # type: ignore[no-untyped-call]

    # -- the flow's hooks ---------------------------------------------------------------------------------------
    def call_started(self, call: Call) -> None:
        options = call.options
        context: Context | None = None
        parent: SpanContext | None = None
        if options.traceparent:
            carrier = {"traceparent": options.traceparent, "tracestate": options.tracestate or ""}
            context = _PROPAGATOR.extract(carrier)
            found = trace.get_current_span(context).get_span_context()
            parent = found if found.is_valid else None  # a malformed header gives no parent: a new trace
        trace_id = parent.trace_id if parent is not None else self.ids.generate_trace_id()
        name = f"{OPERATIONS.get(call.endpoint, call.endpoint)} {call.request.model}"
        sampling = self.sampler.should_sample(context if parent is not None else None, trace_id, name, SpanKind.SERVER)
        sampled = sampling.decision is Decision.RECORD_AND_SAMPLE
        flags = TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT
        random_id = parent.trace_flags.random_trace_id if parent is not None else self.ids.is_trace_id_random()
        if random_id:
            flags |= TraceFlags.RANDOM_TRACE_ID
        offset = time.time_ns() - time.monotonic_ns()
        followed = _Followed(
            trace_id,
            self.ids.generate_span_id(),
            parent,
            TraceFlags(flags),
            sampling.trace_state or TraceState(),
            offset,
        )
        call.tracing = followed
        if sampled:
            call.trace_id = format(trace_id, "032x")
            call.keep_output = self.capture

    def attempt_started(self, call: Call, attempt: Attempt) -> None:
        followed = call.tracing
        if not isinstance(followed, _Followed):
            return
        span_id = self.ids.generate_span_id()
        followed.tries.append((attempt, span_id))
        if not attempt.deployment.startswith("local:"):  # the upstream continues the trace from this try's span
            span = NonRecordingSpan(followed.context(span_id))
            _PROPAGATOR.inject(attempt.headers, context=trace.set_span_in_context(span))

    def call_ended(self, call: Call) -> None:
        followed = call.tracing
        if not isinstance(followed, _Followed) or not followed.flags.sampled:
            return
        end = followed.ns(call.outcome.ended or time.monotonic())
        self._admission(call, followed, end)
        if call.guard is not None:
            self._guardrails(call, followed, end)
        for number, (attempt, span_id) in enumerate(followed.tries, 1):
            self._try(call, followed, number, attempt, span_id, end)
        attributes = self._call_attributes(call)
        if self.capture:
            attributes.update(_content(call))
        start = followed.ns(call.timings.accepted)
        name = f"{attributes['gen_ai.operation.name']} {call.request.model}"
        self._span(
            followed, followed.span_id, name, start, end, attributes, _status(call), SpanKind.SERVER, followed.parent
        )

    # -- spans made from the record -----------------------------------------------------------------------------
    def _span(
        self,
        followed: _Followed,
        span_id: int,
        name: str,
        start: int,
        end: int,
        attributes: dict[str, Any] | None = None,
        status: Status = _UNSET,
        kind: SpanKind = SpanKind.INTERNAL,
        parent: SpanContext | None = None,
    ) -> None:
        span = ReadableSpan(
            name,
            followed.context(span_id),
            parent,
            self.resource,
            attributes,
            kind=kind,
            status=status,
            start_time=start,
            end_time=end,
            instrumentation_scope=self.scope,
        )
        self.processor.on_end(span)

    def _child(
        self, followed: _Followed, name: str, start: float, end: int, attributes: dict[str, Any] | None = None
    ) -> None:
        parent = followed.context(followed.span_id)
        self._span(followed, self.ids.generate_span_id(), name, followed.ns(start), end, attributes, parent=parent)

    def _admission(self, call: Call, followed: _Followed, end: int) -> None:
        admitted = call.timings.admitted
        error = call.outcome.error
        if admitted is not None:
            self._child(followed, "admit", call.timings.accepted, followed.ns(admitted))
        elif error is not None and error.error_type in ADMISSION_REFUSALS and call.target is not None:
            parent = followed.context(followed.span_id)
            refused = Status(StatusCode.ERROR, error.error_type)
            start = followed.ns(call.timings.accepted)
            attributes = {"error.type": error.error_type}
            self._span(followed, self.ids.generate_span_id(), "admit", start, end, attributes, refused, parent=parent)

    def _guardrails(self, call: Call, followed: _Followed, end: int) -> None:
        assert call.guard is not None
        for check in call.guard.checks:
            config = check.guardrail.config
            attributes = {
                "basalt.guardrail.name": config.name,
                "basalt.guardrail.version": str(config.version),
                "basalt.guardrail.action": check.action.value,
            }
            stop = followed.ns(check.ended) if check.ended is not None else end
            self._child(followed, f"guardrail.{check.stage}", check.started, stop, attributes)

    def _try(self, call: Call, followed: _Followed, number: int, attempt: Attempt, span_id: int, end: int) -> None:
        provider, model, base_url = _deployment(attempt.deployment)
        operation = OPERATIONS.get(call.endpoint, call.endpoint)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": _provider_name(provider),
            "gen_ai.request.model": model,
            "basalt.deployment": f"{provider}:{model}",
            "basalt.attempt": number,
        }
        if base_url is not None:
            parts = urlsplit(base_url)  # the host and port only: a URL's user part is a secret
            if parts.hostname:
                attributes["server.address"] = parts.hostname
            if parts.port:
                attributes["server.port"] = parts.port
        if attempt.then is not None:
            attributes["basalt.attempt.then"] = attempt.then
        error = attempt.error
        if error is None and number == len(followed.tries) and call.outcome.error is not None:
            error = call.outcome.error.error_type  # the try that answered failed later, mid-stream
        status = _UNSET
        if error is not None:
            attributes["error.type"] = error
            status = Status(StatusCode.ERROR, error)
        kind = SpanKind.CLIENT if base_url is not None else SpanKind.INTERNAL
        stop = followed.ns(attempt.ended) if attempt.ended is not None else end
        parent = followed.context(followed.span_id)
        start = followed.ns(attempt.started)
        self._span(followed, span_id, f"{operation} {model}", start, stop, attributes, status, kind, parent)
        context = followed.context(span_id)
        for phase in attempt.phases:
            started, ended = followed.ns(phase.started), followed.ns(phase.ended)
            self._span(followed, self.ids.generate_span_id(), f"engine.{phase.name}", started, ended, parent=context)

    def _call_attributes(self, call: Call) -> dict[str, Any]:
        request, outcome = call.request, call.outcome
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OPERATIONS.get(call.endpoint, call.endpoint),
            "gen_ai.request.model": request.model,
            "gen_ai.request.max_tokens": request.max_tokens,
            "basalt.request_id": call.request_id,
            "basalt.dialect": call.dialect,
        }
        if outcome.status != "ok":
            attributes["basalt.call.status"] = outcome.status  # "error" or "cancelled" (the client left)
        if request.stream:
            attributes["gen_ai.request.stream"] = True
        for name in ("temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty"):
            value = getattr(request, name)
            if value is not None:
                attributes[f"gen_ai.request.{name}"] = value
        if request.stop_sequences:
            attributes["gen_ai.request.stop_sequences"] = list(request.stop_sequences)
        if call.attempts:
            attributes["gen_ai.provider.name"] = _provider_name(_deployment(call.attempts[-1].deployment)[0])
        if call.deployment is not None:
            attributes["basalt.deployment"] = _deployment_name(call.deployment)
        if call.guardrail_action is not None:
            attributes["basalt.guardrail.action"] = call.guardrail_action
        if outcome.response_id:
            attributes["gen_ai.response.id"] = outcome.response_id
            attributes["gen_ai.response.model"] = request.model
        if outcome.stop_reason:
            attributes["gen_ai.response.finish_reasons"] = (outcome.stop_reason,)
        if outcome.status == "error":
            attributes["error.type"] = outcome.error.error_type if outcome.error is not None else "_OTHER"
        attributes.update(_usage(outcome.usage))
        return attributes


def _usage(usage: Mapping[str, Any]) -> dict[str, int]:
    """gen_ai.usage.*: input tokens count the cached ones too, as the conventions ask (Anthropic's do not)."""
    if not usage:
        return {}
    read = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    out = {
        "gen_ai.usage.input_tokens": int(usage.get("input_tokens") or 0) + read + written,
        "gen_ai.usage.output_tokens": int(usage.get("output_tokens") or 0),
    }
    if read:
        out["gen_ai.usage.cache_read.input_tokens"] = read
    if written:
        out["gen_ai.usage.cache_creation.input_tokens"] = written
    return out


def _content(call: Call) -> dict[str, str]:
    """The prompt as it went to the model (`call.sent`: after the input guardrails masked it) and the answer as the
    caller got it (after the output guardrails). A prompt an input guardrail blocked is not written at all."""
    out: dict[str, str] = {}
    sent = call.sent
    checks = call.guard.checks if call.guard is not None else ()
    blocked = any(c.stage == "input" and c.action is Action.INTERVENED for c in checks)
    if sent is not None and not blocked:
        system = trace_content.system_instructions(sent)
        if system is not None:
            out["gen_ai.system_instructions"] = system
        out["gen_ai.input.messages"] = trace_content.input_messages(sent)
    if call.outcome.message is not None:
        out["gen_ai.output.messages"] = trace_content.output_messages(call.outcome.message)
    return {name: text[:MAX_CONTENT] for name, text in out.items()}


def _status(call: Call) -> Status:
    if call.outcome.status != "error":
        return _UNSET
    return Status(StatusCode.ERROR, call.outcome.error.error_type if call.outcome.error is not None else "_OTHER")


def _deployment(label: str) -> tuple[str, str, str | None]:
    """(provider, model, base URL) of an attempt's deployment label; the local model's has no URL."""
    match = _DEPLOYMENT.fullmatch(label)
    if match is not None:
        return match[1], match[2], match[3]
    provider, _, model = label.partition(":")
    return provider, model or label, None


def _deployment_name(label: str) -> str:
    """The deployment as `provider:model`: its URL is in server.address and server.port, without any user part."""
    provider, model, _ = _deployment(label)
    return f"{provider}:{model}"


def _provider_name(provider: str) -> str:
    return LOCAL_PROVIDER if provider == "local" else PROVIDER_NAMES.get(provider, provider)
