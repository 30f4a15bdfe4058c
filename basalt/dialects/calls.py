"""What every HTTP dialect decodes from the headers into a call's options, beside its own body."""

from __future__ import annotations

from collections.abc import Mapping

from ..flow import CallOptions
from ..guarding import TRACE_HEADER, added_by_header


def call_options(headers: Mapping[str, str]) -> CallOptions:
    """`basalt-guardrail: name:version[, ...]` adds guardrails; `basalt-guardrail-trace: enabled` asks for the trace;
    a W3C `traceparent` (and `tracestate`) is the caller's trace, which the call's spans continue."""
    trace = headers.get(TRACE_HEADER)
    traceparent = headers.get("traceparent")
    if not trace and not traceparent and "basalt-guardrail" not in headers:
        return _PLAIN  # most calls: no header to parse
    return CallOptions(
        added_by_header(headers), (trace or "").lower() == "enabled", traceparent, headers.get("tracestate")
    )


_PLAIN = CallOptions()
