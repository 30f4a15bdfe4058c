"""What the access log costs a request: the edge's send wrapper, the line's fields, and the line written as JSON.

    PYTHONPATH=. .venv/bin/python -m bench.access_log

A finished call (two attempts' worth of record, usage, a trace id) is logged again and again to /dev/null through the
real handler and formatter that `basalt serve` installs; the edge is timed around an app that sends a response start
and one body. Prints CPU microseconds a request (process time, so that a shared machine's other work is not counted),
the median of several runs.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time
from typing import Any

from basalt.canonical import parse_messages_request
from basalt.config import Settings
from basalt.control import Principal
from basalt.control.records import ApiKey, Project
from basalt.flow import Attempt, Call, CallOptions
from basalt.http.edge import Edge, Exchange
from basalt.http.plumbing import CALL
from basalt.observe.access import AccessLog, Masks, access_fields
from basalt.observe.logs import Redactor, configure

N = 20_000
RUNS = 5


def finished_call() -> Call:
    project = Project("proj_0123456789abcdef", "org_0123456789abcdef", "web", 0.0)
    key = ApiKey("key_0123456789abcdef", project.org_id, project.id, "k", "...abcd", False, None, None, None, None, 0.0)
    request = parse_messages_request({"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]})
    options = CallOptions(traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    call = Call(Principal(key, project), request, "messages", "req_0123456789abcdef01234567", options)
    call.trace_id = options.caller_trace_id
    call.attempts.append(Attempt("openai:up@http://127.0.0.1:9999/v1", ended=time.monotonic()))
    now = time.monotonic()
    call.outcome.status, call.outcome.first_token, call.outcome.ended = "ok", now, now
    call.outcome.usage.update(input_tokens=7, output_tokens=20)
    return call


def scope(call: Call) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/v1/messages",
        "client": ("127.0.0.1", 50000),
        "state": {"request_id": call.request_id},
        CALL: call,
    }


def per_request(work: Any) -> float:
    """Microseconds a call of `work`, the median of RUNS runs of N calls."""
    runs = []
    for _ in range(RUNS):
        start = time.process_time()
        for _ in range(N):
            work()
        runs.append((time.process_time() - start) / N * 1e6)
    return statistics.median(runs)


async def edge_cost() -> tuple[float, float]:
    """(with the edge, without) microseconds a request, for an app that answers at once."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    edge = Edge([])  # the wrapper alone: the line is timed apart
    the_scope = {"type": "http", "method": "POST", "path": "/"}
    results = []
    for wrapped in (True, False):
        runs = []
        for _ in range(RUNS):
            start = time.process_time()
            for _ in range(N):
                if wrapped:
                    await edge.serve(app, the_scope, receive, send)
                else:
                    await app(the_scope, receive, send)
            runs.append((time.process_time() - start) / N * 1e6)
        results.append(statistics.median(runs))
    return results[0], results[1]


def main() -> None:
    call = finished_call()
    exchange = Exchange(scope(call), time.monotonic(), 200, time.monotonic())
    redact = Redactor()
    mask = Masks(redact)
    fields_us = per_request(lambda: access_fields(exchange, mask))
    sink = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    results = {}
    observer = AccessLog(redact)
    for fmt in ("json", "text"):
        configure(Settings.model_validate({"observability": {"logging": {"format": fmt}}}), sink)
        results[fmt] = per_request(lambda: observer.request_ended(exchange))
    with_edge, without = asyncio.run(edge_cost())
    buffer = io.StringIO()
    configure(Settings.model_validate({"observability": {"logging": {"format": "json"}}}), buffer)
    AccessLog(redact).request_ended(exchange)
    print(f"access fields:             {fields_us:6.1f} us")
    print(f"access line, JSON:         {results['json']:6.1f} us (fields, record, format, write)")
    print(f"access line, text:         {results['text']:6.1f} us")
    print(f"edge wrapper:              {with_edge - without:6.1f} us ({with_edge:.1f} vs {without:.1f})")
    print(f"a line is {len(buffer.getvalue())} bytes: {buffer.getvalue().strip()}")


if __name__ == "__main__":
    main()
