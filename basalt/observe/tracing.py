"""Traces: one OpenTelemetry span tree per call, exported over OTLP/HTTP (docs/observability.md, "Traces").

    chat smollm2                 SERVER    the call; continues the caller's `traceparent`
      admit                      INTERNAL  limits and budget (a refusal ends here, with its error.type)
      guardrail.input            INTERNAL  one per attached guardrail, in order
      chat gpt-4o-mini           CLIENT    one per upstream try: its deployment, why it was retried or left;
                                           its upstream received a `traceparent` naming this span
      chat smollm2-135m-instruct INTERNAL  the local model's try, with three children:
        engine.queue / engine.prefill / engine.decode
      guardrail.output           INTERNAL  one per attached guardrail, over the stream it watched

How: only the spans whose ids must be known while the call runs are started as it runs, the call's own (every
try's parent) and each try's (its upstream's `traceparent` names it); the others are made when the call ends, from
the times the stages wrote on the record (the SDK takes explicit start and end times), and every span is ended then.
So the stages carry no tracing code, one observer reads the finished record, and a span costs one SDK call or two.

Off (the default) it costs nothing: wiring does not import this module, no observer is added, and the flow's only
trace work per call is looping over an empty list. On, the event loop only builds spans: a BatchSpanProcessor
exports them from its own thread. Sampling is parent-based: a caller's sampled flag is honoured, and the ratio
decides for the traces Basalt starts; a call not sampled still sends its trace context upstream (flag 00).
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
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
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
MAX_ATTRIBUTE = 64 << 10  # characters of one attribute (captured content is cut there)
_DEPLOYMENT = re.compile(r"([^:]+):(.*)@(https?://.*)")  # wiring's label: provider:model@base_url
_PROPAGATOR = TraceContextTextMapPropagator()


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
    """What tracing keeps on a call (`call.tracing`): its span and the spans of its tries."""

    span: Span
    context: Context
    offset: int  # wall-clock ns minus monotonic ns, taken as the call started
    tries: list[tuple[Attempt, Span]] = field(default_factory=list)

    def ns(self, monotonic: float) -> int:
        return int(monotonic * 1e9) + self.offset


class Tracing:
    """The flow observer that traces calls; `shutdown()` exports what is left (at Platform.stop)."""

    def __init__(self, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
        self.capture = settings.capture_content
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            sampler=ParentBased(TraceIdRatioBased(settings.sampling_ratio)),
            span_limits=SpanLimits(max_span_attribute_length=MAX_ATTRIBUTE),
        )
        if exporter is None:
            exporter = OTLPSpanExporter(endpoint=settings.endpoint, headers=headers_from_env(settings.headers_env))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("basalt")

    def shutdown(self) -> None:
        self.provider.shutdown()

    # -- the flow's hooks ---------------------------------------------------------------------------------------
    def call_started(self, call: Call) -> None:
        options = call.options
        parent = None
        if options.traceparent:
            carrier = {"traceparent": options.traceparent, "tracestate": options.tracestate or ""}
            parent = _PROPAGATOR.extract(carrier)  # a malformed header gives no parent: a new trace
        offset = time.time_ns() - time.monotonic_ns()
        span = self.tracer.start_span(
            f"{OPERATIONS.get(call.endpoint, call.endpoint)} {call.request.model}",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=int(call.timings.accepted * 1e9) + offset,
        )
        call.tracing = _Followed(span, trace.set_span_in_context(span), offset)
        if span.is_recording():
            call.trace_id = format(span.get_span_context().trace_id, "032x")
            call.keep_output = self.capture

    def attempt_started(self, call: Call, attempt: Attempt) -> None:
        followed = call.tracing
        if not isinstance(followed, _Followed):
            return
        provider, model, _ = _deployment(attempt.deployment)
        span = self.tracer.start_span(
            f"{OPERATIONS.get(call.endpoint, call.endpoint)} {model}",
            context=followed.context,
            kind=SpanKind.INTERNAL if provider == "local" else SpanKind.CLIENT,
            start_time=followed.ns(attempt.started),
        )
        followed.tries.append((attempt, span))
        if provider != "local":  # the upstream continues the trace from this try's span
            _PROPAGATOR.inject(attempt.headers, context=trace.set_span_in_context(span))

    def call_ended(self, call: Call) -> None:
        followed = call.tracing
        if not isinstance(followed, _Followed) or not followed.span.is_recording():
            return
        end = followed.ns(call.outcome.ended or time.monotonic())
        self._admission(call, followed, end)
        if call.guard is not None:
            self._guardrails(call, followed, end)
        for number, (attempt, span) in enumerate(followed.tries, 1):
            self._try(call, followed, number, attempt, span, end)
        span = followed.span
        span.set_attributes(self._call_attributes(call))
        if self.capture:
            span.set_attributes(_content(call))
        _set_outcome(span, call)
        span.end(end_time=end)

    # -- spans made from the record -----------------------------------------------------------------------------
    def _child(self, followed: _Followed, name: str, start: float, end: int, attributes: dict[str, Any]) -> Span:
        span = self.tracer.start_span(name, followed.context, start_time=followed.ns(start), attributes=attributes)
        span.end(end_time=end)
        return span

    def _admission(self, call: Call, followed: _Followed, end: int) -> None:
        admitted = call.timings.admitted
        error = call.outcome.error
        if admitted is not None:
            self._child(followed, "admit", call.timings.accepted, followed.ns(admitted), {})
        elif error is not None and error.error_type in ADMISSION_REFUSALS and call.target is not None:
            span = self.tracer.start_span(
                "admit", followed.context, start_time=followed.ns(call.timings.accepted), attributes={}
            )
            span.set_attribute("error.type", error.error_type)
            span.set_status(Status(StatusCode.ERROR, error.error_type))
            span.end(end_time=end)

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

    def _try(self, call: Call, followed: _Followed, number: int, attempt: Attempt, span: Span, end: int) -> None:
        provider, model, base_url = _deployment(attempt.deployment)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OPERATIONS.get(call.endpoint, call.endpoint),
            "gen_ai.provider.name": _provider_name(provider),
            "gen_ai.request.model": model,
            "basalt.deployment": _deployment_name(attempt.deployment),
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
        span.set_attributes(attributes)
        error = attempt.error
        if error is None and number == len(followed.tries) and call.outcome.error is not None:
            error = call.outcome.error.error_type  # the try that answered failed later, mid-stream
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, error))
        context = trace.set_span_in_context(span)
        for phase in attempt.phases:
            child = self.tracer.start_span(f"engine.{phase.name}", context, start_time=followed.ns(phase.started))
            child.end(end_time=followed.ns(phase.ended))
        span.end(end_time=followed.ns(attempt.ended) if attempt.ended is not None else end)

    def _call_attributes(self, call: Call) -> dict[str, Any]:
        request, outcome = call.request, call.outcome
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OPERATIONS.get(call.endpoint, call.endpoint),
            "gen_ai.request.model": request.model,
            "gen_ai.request.max_tokens": request.max_tokens,
            "gen_ai.request.stream": bool(request.stream),
            "basalt.request_id": call.request_id,
            "basalt.dialect": call.dialect,
            "basalt.endpoint": call.endpoint,
            "basalt.call.status": outcome.status,
        }
        for name in ("temperature", "top_p", "top_k", "seed", "frequency_penalty", "presence_penalty"):
            value = getattr(request, name)
            if value is not None:
                attributes[f"gen_ai.request.{name}"] = value
        if request.stop_sequences:
            attributes["gen_ai.request.stop_sequences"] = list(request.stop_sequences)
        if call.attempts:
            provider = _deployment(call.attempts[-1].deployment)[0]
            attributes["gen_ai.provider.name"] = _provider_name(provider)
        if call.deployment is not None:
            attributes["basalt.deployment"] = _deployment_name(call.deployment)
        if call.guardrail_action is not None:
            attributes["basalt.guardrail.action"] = call.guardrail_action
        if outcome.response_id:
            attributes["gen_ai.response.id"] = outcome.response_id
            attributes["gen_ai.response.model"] = request.model
        if outcome.stop_reason:
            attributes["gen_ai.response.finish_reasons"] = [outcome.stop_reason]
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
    return out


def _set_outcome(span: Span, call: Call) -> None:
    outcome = call.outcome
    if outcome.status == "error":
        error_type = outcome.error.error_type if outcome.error is not None else "_OTHER"
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))


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
