"""Traces end to end: the app under uvicorn with tracing on, exporting over OTLP/HTTP to a real receiver on loopback;
calls carrying a caller's `traceparent` to a model whose first deployment fails (a retry, then a fallback), to the
local model, and to a model with an anonymizing guardrail. The span tree, its attributes and the `traceparent` each
fake upstream received are asserted. All calls run in one server's life; its shutdown exports the last spans."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

from basalt import create_app
from basalt.config import (
    ControlSettings,
    Deployment,
    EngineSettings,
    ObservabilitySettings,
    RouterSettings,
    Settings,
    TracingSettings,
)
from basalt.guard import GuardrailConfig

from ..fakes.upstream import Script, fake_upstream, serving
from .otlp_receiver import Received, ReceivedSpan, otlp_receiver

LOCAL = "smollm2-135m-instruct"
TOKEN_ENV = "BASALT_TEST_OTLP_TOKEN"
MASK_EMAIL = {
    "name": "mask",
    "version": 1,
    "sensitive_information": {"entities": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
}
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# The callers' traces: (trace id, the caller's span id).
FALLBACK = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
LOCAL_CALL = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
GUARDED = ("11111111111111111111111111111111", "2222222222222222")
UNSAMPLED = ("33333333333333333333333333333333", "4444444444444444")
CUT = ("55555555555555555555555555555555", "6666666666666666")


@dataclass
class Run:
    received: Received
    primary: Script
    backup: Script
    responses: dict[str, httpx.Response]


def traceparent(trace: tuple[str, str], flags: str = "01") -> dict[str, str]:
    return {"traceparent": f"00-{trace[0]}-{trace[1]}-{flags}", "tracestate": "caller=1"}


@pytest.fixture(scope="module")
def run(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data = tmp_path_factory.mktemp("traced")
    os.environ[TOKEN_ENV] = "Bearer otlp-secret"
    try:
        with otlp_receiver() as (endpoint, received), fake_upstream() as (url_a, a), fake_upstream() as (url_b, b):
            tracing = TracingSettings(
                enabled=True,
                endpoint=endpoint,
                headers_env={"authorization": TOKEN_ENV},
                service_name="basalt-under-test",
                capture_content=True,
            )
            settings = Settings(
                home=basalt_home,
                engine=EngineSettings(context_window=512, max_seqs=2),
                control=ControlSettings(database=f"sqlite+aiosqlite:///{data / 'basalt.db'}"),
                deployments=[
                    Deployment(name="m", provider="openai", model="primary", base_url=url_a, timeout=5),
                    Deployment(name="m", provider="openai", model="backup", base_url=url_b, timeout=5),
                    Deployment(name="guarded", provider="openai", model="backup", base_url=url_b, timeout=5),
                ],
                router=RouterSettings(retries=1, backoff=0.01, max_delay=1, cooldown=0),
                guardrails=[GuardrailConfig.model_validate(MASK_EMAIL)],
                model_guardrails={"guarded": "mask:1"},
                observability=ObservabilitySettings(tracing=tracing),
            )
            app = create_app(settings)
            with serving(app) as url:
                router = app.state.platform.catalog.resolve("m")[0]
                router.targets[0].in_flight = -1  # the primary is the least busy, so it is tried first
                responses = calls(url, a, b)
            yield Run(received, a, b, responses)  # the server has shut down: its spans are all exported
    finally:
        os.environ.pop(TOKEN_ENV, None)


def calls(url: str, a: Script, b: Script) -> dict[str, httpx.Response]:
    ask = [{"role": "user", "content": "Hi"}]
    out = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        a.actions = ["500", "500"]  # the primary fails twice (a retry, then the fallback to the backup)
        body = {"model": "m", "max_tokens": 20, "temperature": 0.5, "messages": ask}
        out["fallback"] = http.post("/v1/messages", json=body, headers=traceparent(FALLBACK))
        body = {"model": LOCAL, "max_tokens": 4, "temperature": 0, "stream": True, "messages": ask}
        out["local"] = http.post("/v1/chat/completions", json=body, headers=traceparent(LOCAL_CALL))
        b.actions = ["say:Write to bob@example.org|, please."]
        masked = [{"role": "user", "content": "My mail is ana@example.org."}]
        body = {"model": "guarded", "max_tokens": 20, "system": "Be brief.", "messages": masked}
        out["guarded"] = http.post("/v1/messages", json=body, headers=traceparent(GUARDED))
        body = {"model": "m", "max_tokens": 20, "messages": ask}
        out["unsampled"] = http.post("/v1/messages", json=body, headers=traceparent(UNSAMPLED, "00"))
        out["root"] = http.post("/v1/messages", json=body)
        out["unknown"] = http.post("/v1/messages", json={**body, "model": "nope"}, headers=traceparent(GUARDED))
        a.actions = ["cut"]  # the upstream breaks off its stream after a few events
        out["cut"] = http.post("/v1/messages", json={**body, "stream": True}, headers=traceparent(CUT))
    return out


def only(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def sent_traceparent(script: Script, index: int) -> tuple[str, str, str]:
    match = TRACEPARENT.fullmatch(script.headers[index]["traceparent"])
    assert match is not None, script.headers[index]
    return match[1], match[2], match[3]


def test_the_server_span_continues_the_callers_trace(run: Run) -> None:
    assert run.responses["fallback"].status_code == 200, run.responses["fallback"].text
    spans = run.received.trace(FALLBACK[0])
    server = only(spans, "chat m")
    assert server.kind == "SERVER" and server.parent_id == FALLBACK[1]
    assert server.resource["service.name"] == "basalt-under-test"
    attributes = server.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "m"
    assert attributes["gen_ai.request.max_tokens"] == 20 and attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.response.model"] == "m"
    assert attributes["gen_ai.response.id"] == run.responses["fallback"].json()["id"]
    assert attributes["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attributes["gen_ai.usage.input_tokens"] == 7 and attributes["gen_ai.usage.output_tokens"] == 6
    assert attributes["basalt.dialect"] == "anthropic" and "basalt.call.status" not in attributes  # ok
    assert attributes["basalt.request_id"] == run.responses["fallback"].headers["request-id"]
    assert attributes["basalt.deployment"] == "openai:backup"
    assert "error.type" not in attributes and server.status == 0
    admit = only(spans, "admit")
    assert admit.kind == "INTERNAL" and admit.parent_id == server.span_id
    assert server.start <= admit.start <= admit.end <= server.end


def test_each_upstream_try_is_a_client_span_and_its_upstream_gets_its_traceparent(run: Run) -> None:
    spans = run.received.trace(FALLBACK[0])
    server = only(spans, "chat m")
    tries = sorted((s for s in spans if s.kind == "CLIENT"), key=lambda s: s.attributes["basalt.attempt"])
    assert [s.name for s in tries] == ["chat primary", "chat primary", "chat backup"]
    assert all(s.parent_id == server.span_id for s in tries)
    assert [s.attributes.get("basalt.attempt.then") for s in tries] == ["retry", "fallback", None]
    assert [s.attributes.get("error.type") for s in tries] == ["api_error", "api_error", None]
    assert [s.status for s in tries] == [2, 2, 0]
    for span in tries:
        assert span.attributes["gen_ai.provider.name"] == "openai"
        assert span.attributes["server.address"] == "127.0.0.1" and isinstance(span.attributes["server.port"], int)
        assert server.start <= span.start <= span.end <= server.end
    assert tries[0].end <= tries[1].start <= tries[1].end <= tries[2].start
    # What each upstream received: the caller's trace, the try's own span as the parent, sampled.
    assert [sent_traceparent(run.primary, i) for i in (0, 1)] == [
        (FALLBACK[0], tries[0].span_id, "01"),
        (FALLBACK[0], tries[1].span_id, "01"),
    ]
    assert sent_traceparent(run.backup, 0) == (FALLBACK[0], tries[2].span_id, "01")
    assert run.backup.headers[0]["tracestate"] == "caller=1"


def test_the_local_model_reports_queue_prefill_and_decode(run: Run) -> None:
    assert run.responses["local"].status_code == 200, run.responses["local"].text
    spans = run.received.trace(LOCAL_CALL[0])
    server = next(s for s in spans if s.kind == "SERVER")
    assert server.name == f"chat {LOCAL}" and server.parent_id == LOCAL_CALL[1]
    assert server.attributes["gen_ai.provider.name"] == "basalt"
    assert server.attributes["basalt.dialect"] == "openai" and server.attributes["gen_ai.request.stream"] is True
    assert server.attributes["gen_ai.usage.output_tokens"] >= 1
    attempt = next(s for s in spans if s.name == f"chat {LOCAL}" and s.kind == "INTERNAL")
    assert attempt.parent_id == server.span_id and attempt.attributes["basalt.deployment"] == f"local:{LOCAL}"
    phases = [only(spans, f"engine.{name}") for name in ("queue", "prefill", "decode")]
    assert all(p.parent_id == attempt.span_id for p in phases)
    queue, prefill, decode = phases
    assert attempt.start <= queue.start <= queue.end == prefill.start <= prefill.end == decode.start
    assert decode.end <= attempt.end <= server.end
    assert not any(s.kind == "CLIENT" for s in spans)


def test_guardrail_spans_and_opt_in_content_show_only_masked_text(run: Run) -> None:
    assert run.responses["guarded"].status_code == 200, run.responses["guarded"].text
    spans = run.received.trace(GUARDED[0])
    server = only(spans, "chat guarded")
    checks = {s.name: s for s in spans if s.name.startswith("guardrail.")}
    assert set(checks) == {"guardrail.input", "guardrail.output"}
    for check in checks.values():
        assert check.parent_id == server.span_id
        assert check.attributes["basalt.guardrail.name"] == "mask"
        assert check.attributes["basalt.guardrail.version"] == "1"
        assert check.attributes["basalt.guardrail.action"] == "ANONYMIZED"
    assert checks["guardrail.input"].end <= only(spans, "chat backup").start
    assert server.attributes["basalt.guardrail.action"] == "ANONYMIZED"
    assert run.backup.requests[-1]["messages"][-1]["content"] == "My mail is {EMAIL}."
    sent = server.attributes["gen_ai.input.messages"]
    answer = server.attributes["gen_ai.output.messages"]
    assert "ana@example.org" not in sent and "bob@example.org" not in answer
    assert json.loads(sent) == [{"role": "user", "parts": [{"type": "text", "content": "My mail is {EMAIL}."}]}]
    assert json.loads(server.attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(answer) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Write to {EMAIL}, please."}],
            "finish_reason": "stop",
        }
    ]
    assert run.responses["guarded"].json()["content"][0]["text"] == "Write to {EMAIL}, please."


def test_a_caller_not_sampling_gets_no_spans_but_its_context_goes_upstream(run: Run) -> None:
    assert run.responses["unsampled"].status_code == 200
    assert run.received.trace(UNSAMPLED[0]) == []
    trace_id, parent, flags = next(
        sent_traceparent(script, i)
        for script in (run.primary, run.backup)
        for i in range(len(script.headers))
        if script.headers[i]["traceparent"].startswith(f"00-{UNSAMPLED[0]}")
    )
    assert trace_id == UNSAMPLED[0] and flags == "00" and parent != UNSAMPLED[1]


def test_a_call_without_traceparent_starts_a_trace_and_refusals_are_traced(run: Run) -> None:
    assert run.responses["root"].status_code == 200
    known = {FALLBACK[0], LOCAL_CALL[0], GUARDED[0], UNSAMPLED[0], CUT[0]}
    roots = [s for s in run.received.spans if s.kind == "SERVER" and s.trace_id not in known]
    assert len(roots) == 1 and roots[0].parent_id == "" and roots[0].name == "chat m"
    refused = [s for s in run.received.trace(GUARDED[0]) if s.name == "chat nope"]
    assert run.responses["unknown"].status_code == 404
    assert len(refused) == 1 and refused[0].attributes["error.type"] == "not_found_error" and refused[0].status == 2
    assert refused[0].attributes["basalt.call.status"] == "error"


def test_the_exporter_sends_the_headers_named_by_environment_variables(run: Run) -> None:
    assert run.received.posts and all(p["authorization"] == "Bearer otlp-secret" for p in run.received.posts)
    assert all(p["content-type"] == "application/x-protobuf" for p in run.received.posts)


def test_a_stream_the_upstream_breaks_off_is_an_error_on_the_call_and_on_the_try_that_answered(run: Run) -> None:
    assert run.responses["cut"].status_code == 200 and "event: error" in run.responses["cut"].text
    spans = run.received.trace(CUT[0])
    server = only(spans, "chat m")
    attempt = only(spans, "chat primary")
    assert attempt.parent_id == server.span_id and "basalt.attempt.then" not in attempt.attributes
    assert attempt.attributes["error.type"] == "api_error" and attempt.status == 2
    assert server.attributes["error.type"] == "api_error" and server.status == 2
    assert server.attributes["basalt.call.status"] == "error"
