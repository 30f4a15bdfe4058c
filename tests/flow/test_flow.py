"""The flow alone, through in-memory providers (no socket): each stage fills the call's record, and the ledger row
is written from the record. The control plane is real (SQLite in a temporary home)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from basalt.canonical import parse_messages_request
from basalt.catalog import Catalog
from basalt.config import Settings
from basalt.control import ControlPlane, Principal
from basalt.errors import NotFound, Overloaded
from basalt.flow import Call, CallOptions, Flow
from basalt.guard import GuardrailConfig, Guardrails
from basalt.guarding import GuardedAnswer
from basalt.providers.base import EventBatch, Provider
from basalt.providers.mock import MockProvider, text_answer
from basalt.router import RetryPolicy, Router, Target

MASK_EMAIL = {
    "name": "mask",
    "version": 1,
    "sensitive_information": {"entities": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
}


class Platform:
    def __init__(self, home: Path, *providers: Provider) -> None:
        self.control = ControlPlane(Settings(home=home, serve_local=False))
        self.control.prepare()
        self.catalog = Catalog()
        for provider in providers:
            self.catalog.register(provider)
        self.guardrails = Guardrails()
        self.guardrails.add(GuardrailConfig.model_validate(MASK_EMAIL))
        self.flow = Flow(self.catalog, self.control, self.guardrails, {})

    async def run(self, call: Call) -> list[EventBatch]:
        return [batch async for batch in await self.flow.answer(call)]

    async def row(self, request_id: str) -> dict[str, Any]:
        await self.control.context().ledger.flush()
        rows = await self.control.store().usage_records({}, 100)
        return next(r for r in rows if r["request_id"] == request_id)


def call(model: str, text: str = "hello", request_id: str = "req_1", **options: Any) -> Call:
    request = parse_messages_request(
        {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
    )
    return Call(Principal(), request, "messages", request_id, CallOptions(**options))


def routed(name: str, *targets: tuple[str, Provider]) -> Router:
    policy = RetryPolicy(retries=1, backoff=0.001, max_delay=0.01, cooldown=60)
    return Router(name, [Target(p, p.models()[0].id, label=label) for label, p in targets], policy)


def test_each_stage_fills_the_record_and_the_ledger_row_comes_from_it(tmp_path: Path) -> None:
    mock = MockProvider(text_answer("Hi", " there"), model="up")
    platform = Platform(tmp_path, routed("m", ("mock:up", mock)))
    the_call = call("m")

    async def go() -> dict[str, Any]:
        batches = await platform.run(the_call)
        assert (
            "".join(e["delta"]["text"] for b in batches for e in b if e["type"] == "content_block_delta") == "Hi there"
        )
        return await platform.row("req_1")

    row = asyncio.run(go())
    assert the_call.target is not None and the_call.target.model_id == "m"
    assert the_call.ticket is not None and the_call.timings.admitted is not None
    assert the_call.sent is the_call.request  # no guardrail: sent as received
    assert [(a.deployment, a.error) for a in the_call.attempts] == [("mock:up", None)]
    assert the_call.deployment == "mock:up"
    assert (row["status"], row["deployment"], row["output_tokens"]) == ("ok", "mock:up", 2)


def test_retries_and_fallbacks_are_attempts_on_the_record(tmp_path: Path) -> None:
    def overloaded(request: Any) -> list[EventBatch]:
        raise Overloaded("busy")

    failing, backup = MockProvider(overloaded, model="a"), MockProvider(text_answer("ok"), model="b")
    platform = Platform(tmp_path, routed("m", ("mock:a", failing), ("mock:b", backup)))
    platform.catalog.resolve("m")[0].targets[1].in_flight = 1  # type: ignore[attr-defined]  # order: a first
    the_call = call("m")

    row = asyncio.run(_run_and_row(platform, the_call))
    assert [(a.deployment, a.error, a.then) for a in the_call.attempts] == [
        ("mock:a", "overloaded_error", "retry"),
        ("mock:a", "overloaded_error", "fallback"),
        ("mock:b", None, None),
    ]
    assert all(a.ended is not None and a.ended >= a.started for a in the_call.attempts)
    assert row["deployment"] == "mock:b" and len(failing.requests) == 2 and len(backup.requests) == 1


async def _run_and_row(platform: Platform, the_call: Call) -> dict[str, Any]:
    await platform.run(the_call)
    return await platform.row(the_call.request_id)


def test_a_masked_request_keeps_its_deployment_and_action(tmp_path: Path) -> None:
    mock = MockProvider(text_answer("noted"), model="up")
    platform = Platform(tmp_path, routed("m", ("mock:up", mock)))
    the_call = call("m", "mail me at ada@example.com", guardrails=("mask:1",))

    row = asyncio.run(_run_and_row(platform, the_call))
    assert the_call.sent is not None and the_call.sent is not the_call.request
    assert "ada@example.com" not in mock.requests[0].model_dump_json()
    assert "ada@example.com" in the_call.request.model_dump_json()  # the caller's request is left as it came
    assert the_call.guardrail_action == "ANONYMIZED"
    assert (row["deployment"], row["guardrail_action"]) == ("mock:up", "ANONYMIZED")


def test_the_model_is_resolved_once_a_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platform = Platform(tmp_path, MockProvider(text_answer("hi"), model="local-model"))
    resolved: list[str] = []
    real = platform.catalog.resolve
    monkeypatch.setattr(platform.catalog, "resolve", lambda name: resolved.append(name) or real(name))
    the_call = call("local-model")
    row = asyncio.run(_run_and_row(platform, the_call))
    assert resolved == ["local-model"]
    assert the_call.deployment == row["deployment"] == "local:local-model"


def test_an_unknown_model_is_refused_before_admission(tmp_path: Path) -> None:
    platform = Platform(tmp_path, MockProvider(text_answer("hi"), model="m"))
    the_call = call("nope")

    async def go() -> list[dict[str, Any]]:
        with pytest.raises(NotFound):
            await platform.flow.answer(the_call)
        await platform.control.context().ledger.flush()
        return await platform.control.store().usage_records({}, 10)

    assert asyncio.run(go()) == [] and the_call.ticket is None


def test_a_call_cancelled_during_its_input_check_is_recorded_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock = MockProvider(text_answer("never"), model="up")
    platform = Platform(tmp_path, routed("m", ("mock:up", mock)))
    checking = asyncio.Event()

    async def slow_check(self: object, request: Any) -> Any:
        checking.set()
        await asyncio.Event().wait()  # the client leaves before it ends

    monkeypatch.setattr(GuardedAnswer, "check_input", slow_check)
    the_call = call("m", "hello", guardrails=("mask:1",))

    async def go() -> dict[str, Any]:
        task = asyncio.ensure_future(platform.flow.answer(the_call))
        await checking.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await platform.row(the_call.request_id)

    row = asyncio.run(go())
    assert (row["status"], row["error_type"]) == ("cancelled", None)
    assert not mock.requests
