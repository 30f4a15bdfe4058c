"""Tracing on the flow alone (in-memory providers and exporter, no socket): what is and is not traced, and that off
means no SDK at all."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from basalt.canonical import parse_messages_request
from basalt.catalog import Catalog
from basalt.config import ObservabilitySettings, Settings, TracingSettings
from basalt.control import ControlPlane, Principal
from basalt.flow import Call, CallOptions, Flow, Observers
from basalt.guard import GuardrailConfig, Guardrails
from basalt.observe.tracing import Tracing
from basalt.providers.mock import MockProvider, text_answer
from basalt.router import RetryPolicy, Router, Target
from basalt.wiring import Platform

BLOCK_ZEUS = {"name": "zeus", "version": 1, "words": {"words": ["project zeus"], "action": "BLOCK"}}
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Traced:
    def __init__(self, home: Path, **tracing: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracing = Tracing(TracingSettings(enabled=True, **tracing), self.exporter)
        self.control = ControlPlane(Settings(home=home, serve_local=False))
        self.control.prepare()
        catalog = Catalog()
        self.mock = MockProvider(text_answer("Hi", " there"), model="up")
        policy = RetryPolicy(retries=0, backoff=0, max_delay=0, cooldown=0)
        catalog.register(Router("m", [Target(self.mock, "up", label="openai:up@http://up.example:8080/v1")], policy))
        guardrails = Guardrails()
        guardrails.add(GuardrailConfig.model_validate(BLOCK_ZEUS))
        self.flow = Flow(catalog, self.control, guardrails, {"m": "zeus:1"}, Observers([self.tracing]))

    def answer(self, call: Call) -> str:
        async def go() -> str:
            batches = [batch async for batch in await self.flow.answer(call)]
            await self.control.close()
            return "".join(e["delta"].get("text", "") for b in batches for e in b if e["type"] == "content_block_delta")

        return asyncio.run(go())

    def spans(self) -> list[ReadableSpan]:
        self.tracing.flush()
        return list(self.exporter.get_finished_spans())


def call(text: str = "hello", **options: Any) -> Call:
    request = parse_messages_request({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": text}]})
    return Call(Principal(), request, "messages", "req_1", CallOptions(**options))


def test_off_by_default_the_sdk_is_not_even_imported() -> None:
    script = (
        "import sys\n"
        "from basalt.wiring import Platform\n"
        "from basalt.config import Settings\n"
        "platform = Platform(Settings(serve_local=False))\n"
        "assert platform.tracing is None\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')], 'SDK imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_an_observer_without_the_start_hooks_costs_no_hook_per_call() -> None:
    class Counting:
        def __init__(self) -> None:
            self.ended: list[Call] = []

        def call_ended(self, call: Call) -> None:
            self.ended.append(call)

    observers = Observers([Counting()])
    the_call = call()
    observers.started(the_call)
    assert observers.attempt_hook(the_call) is None


def test_a_root_call_not_sampled_exports_nothing_and_still_sends_its_context(tmp_path: Path) -> None:
    traced = Traced(tmp_path, sampling_ratio=0.0)
    the_call = call()
    assert traced.answer(the_call) == "Hi there"
    assert traced.spans() == []
    assert the_call.trace_id is None and not the_call.keep_output
    version, trace_id, span_id, flags = the_call.attempts[0].headers["traceparent"].split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16
    assert int(flags, 16) & 1 == 0  # not sampled (the SDK may set W3C level 2's random-trace-id bit)


def test_a_sampled_caller_is_traced_even_at_ratio_zero(tmp_path: Path) -> None:
    traced = Traced(tmp_path, sampling_ratio=0.0)
    the_call = call(traceparent=CALLER)
    traced.answer(the_call)
    spans = {span.name: span for span in traced.spans()}
    assert set(spans) == {"chat m", "admit", "guardrail.input", "guardrail.output", "chat up"}
    server = spans["chat m"]
    assert server.parent is not None and format(server.parent.span_id, "016x") == "b7ad6b7169203331"
    assert the_call.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert server.attributes is not None and "gen_ai.input.messages" not in server.attributes  # capture is off
    assert the_call.outcome.message is None
    upstream = spans["chat up"]
    assert upstream.attributes is not None and upstream.attributes["server.address"] == "up.example"
    assert upstream.attributes["server.port"] == 8080 and upstream.attributes["basalt.deployment"] == "openai:up"
    header = the_call.attempts[0].headers["traceparent"]
    assert upstream.context is not None and header.split("-")[2] == format(upstream.context.span_id, "016x")


def test_a_blocked_prompt_is_not_captured_and_the_block_is_on_its_span(tmp_path: Path) -> None:
    traced = Traced(tmp_path, capture_content=True)
    the_call = call("tell me about project zeus", traceparent=CALLER)
    traced.answer(the_call)
    spans = {span.name: span for span in traced.spans()}
    assert "chat up" not in spans and not traced.mock.requests  # never reached the model
    server = spans["chat m"]
    assert server.attributes is not None and "gen_ai.input.messages" not in server.attributes
    assert "gen_ai.output.messages" in server.attributes  # the refusal the caller got
    check = spans["guardrail.input"]
    assert check.attributes is not None and check.attributes["basalt.guardrail.action"] == "INTERVENED"
    assert server.attributes["basalt.guardrail.action"] == "INTERVENED"


def test_a_malformed_traceparent_starts_a_new_trace(tmp_path: Path) -> None:
    traced = Traced(tmp_path)
    the_call = call(traceparent="00-not-a-trace-01", tracestate="x" * 600)
    traced.answer(the_call)
    server = next(span for span in traced.spans() if span.name == "chat m")
    assert server.parent is None and server.context is not None
    assert the_call.trace_id == format(server.context.trace_id, "032x")


def test_a_header_variable_that_is_not_set_stops_the_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASALT_TEST_UNSET_OTLP", raising=False)
    tracing = TracingSettings(enabled=True, headers_env={"authorization": "BASALT_TEST_UNSET_OTLP"})
    settings = Settings(serve_local=False, observability=ObservabilitySettings(tracing=tracing))
    with pytest.raises(SystemExit, match="BASALT_TEST_UNSET_OTLP"):
        Platform(settings)
