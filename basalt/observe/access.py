"""The access log: one structured line per request on the `basalt.access` logger, written at the HTTP edge once the
response is sent (a stream's once it ended), from the request's `flow.Call` when it has one.

Fields (every line has every key; null when it does not apply): request_id, trace_id, method, path (no query
string: a client may put a key there), route (the route's template), dialect, status (null when no response was
started: the client left first), outcome (the call's: ok, error or cancelled), key_id (the key's public id, never
the key), project_id, model, deployment (of the last upstream attempt), attempts, input_tokens, output_tokens,
cache_read_tokens, cache_write_tokens, latency_ms (arrival to the response's end), ttft_ms (to the first content
delta), guardrail_action, error_type (what the client was told; for a stream that failed after its 200, the stream's
error) and client (the peer's address).
"""

from __future__ import annotations

import logging
from typing import Any

from ..control import Principal
from ..dialects.registry import dialect_for
from ..flow import Call
from ..http.edge import Exchange
from ..http.plumbing import CALL, ERROR_TYPE, PRINCIPAL
from .logs import ACCESS_LOGGER, CLEAN, FIELDS, Redactor

MAX_PATH = 512  # characters of the path logged: a path is as long as the client makes it
MAX_MODEL = 200  # a model name is the client's too (the ledger's column is as wide)
MAX_LABELS = 1024  # deployment labels remembered masked (a configuration has a handful)


class AccessLog:
    """An edge observer (`http.edge.EdgeObserver`) writing the access line. The strings a client chose (path, model)
    and the deployment's label (its base URL) are masked here, so the line needs no masking as a whole."""

    def __init__(self, redact: Redactor | None = None, logger: logging.Logger | None = None) -> None:
        self.mask = Masks(redact or Redactor())
        self.log = logger or logging.getLogger(ACCESS_LOGGER)

    def request_ended(self, exchange: Exchange) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        fields = access_fields(exchange, self.mask)
        message = f"{fields['method']} {fields['path']} {fields['status']}"
        # The record made here rather than by `log.info`, which looks up the caller's frame: a tenth of the cost.
        record = logging.LogRecord(self.log.name, logging.INFO, __file__, 0, message, None, None)
        setattr(record, FIELDS, fields)
        setattr(record, CLEAN, True)
        self.log.handle(record)


class Masks:
    """The redactor for the line's strings, remembering its answers for deployment labels (there are as many as the
    configuration has, and a label may hold a base URL's credentials)."""

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact
        self.labels: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def label(self, deployment: str) -> str:
        found = self.labels.get(deployment)
        if found is None:
            found = self.redact(deployment)
            if len(self.labels) < MAX_LABELS:
                self.labels[deployment] = found
        return found


def access_fields(exchange: Exchange, mask: Masks) -> dict[str, Any]:
    scope = exchange.scope
    call: Call | None = scope.get(CALL)
    path = mask(scope["path"][:MAX_PATH])
    route = getattr(scope.get("route"), "path", None)
    client = scope.get("client")
    fields: dict[str, Any] = {
        "request_id": scope.get("state", {}).get("request_id"),
        "trace_id": None,
        "method": scope["method"],
        "path": path,
        "route": route,
        "dialect": dialect_for(path).name if path.startswith("/v1/") else None,
        "status": exchange.status,
        "outcome": None,
        "key_id": None,
        "project_id": None,
        "model": None,
        "deployment": None,
        "attempts": None,
        "input_tokens": None,
        "output_tokens": None,
        "cache_read_tokens": None,
        "cache_write_tokens": None,
        "latency_ms": round((exchange.ended - exchange.started) * 1000, 3),
        "ttft_ms": None,
        "guardrail_action": None,
        "error_type": scope.get(ERROR_TYPE),
        "client": client[0] if client else None,
    }
    principal: Principal | None = call.principal if call is not None else scope.get(PRINCIPAL)
    if principal is not None:
        fields["key_id"] = principal.key.id if principal.key else None
        fields["project_id"] = principal.project_id
    if call is not None:
        _add_call(fields, call, exchange.started, mask)
    return fields


def _add_call(fields: dict[str, Any], call: Call, started: float, mask: Masks) -> None:
    fields["trace_id"] = call.trace_id or call.options.caller_trace_id  # count_tokens: the caller's
    fields["dialect"] = call.dialect
    fields["model"] = mask(call.request.model[:MAX_MODEL])
    if call.attempts:
        deployment = call.attempts[-1].deployment
        fields["deployment"] = mask.label(deployment)
        fields["attempts"] = len(call.attempts)
    outcome = call.outcome
    if outcome.ended is None:
        return  # not a call the flow answered (count_tokens), or refused before the flow had it
    usage = outcome.usage
    fields["outcome"] = outcome.status
    fields["input_tokens"] = usage.get("input_tokens")
    fields["output_tokens"] = usage.get("output_tokens")
    fields["cache_read_tokens"] = usage.get("cache_read_input_tokens")
    fields["cache_write_tokens"] = usage.get("cache_creation_input_tokens")
    if outcome.first_token is not None:
        fields["ttft_ms"] = round((outcome.first_token - started) * 1000, 3)
    ticket = call.ticket
    fields["guardrail_action"] = call.guardrail_action or (ticket.guardrail_action if ticket else None)
    if fields["error_type"] is None and outcome.status == "error":
        fields["error_type"] = outcome.error.error_type if outcome.error is not None else "api_error"
