"""The metrics' parts without a server: the flow's observer on in-memory providers, which limit refused, the ledger's
journal lag, and registries that do not collide."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from basalt.canonical import parse_messages_request
from basalt.catalog import Catalog
from basalt.config import Settings
from basalt.control import ControlPlane, Principal
from basalt.control.journal import Journal
from basalt.control.ledger import Ledger
from basalt.control.store import Store
from basalt.errors import BudgetExceeded, RateLimited
from basalt.flow import Call, Flow, Observers
from basalt.guard import GuardrailConfig, Guardrails
from basalt.observe.metrics import Metrics
from basalt.providers.mock import MockProvider, text_answer
from basalt.router import RetryPolicy, Router, Target


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = metrics.render().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def call(model: str = "m", text: str = "hello") -> Call:
    request = parse_messages_request(
        {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
    )
    return Call(Principal(), request, "messages", "req_1")


def test_two_platforms_in_one_process_keep_their_own_counts() -> None:
    a, b = Metrics(lambda: None, list), Metrics(lambda: None, list)  # a global registry would refuse the second
    refused = call()
    refused.outcome.error = RateLimited("slow down", limit="rpm", owner="project")
    a.call_ended(refused)
    a.call_ended(refused)
    assert samples(a)[("basalt_limit_rejections_total", frozenset({("limit", "rpm"), ("owner", "project")}))] == 2
    assert ("basalt_limit_rejections_total", frozenset({("limit", "rpm"), ("owner", "project")})) not in samples(b)


def test_rejections_name_the_limit_and_an_upstreams_429_is_not_one() -> None:
    metrics = Metrics(lambda: None, list)
    for error in (
        BudgetExceeded("spent", owner="key", period="daily"),
        RateLimited("busy", limit="concurrency", owner="key"),
        RateLimited("upstream 429"),  # the upstream's own limit: an attempt's error, not a Basalt rejection
    ):
        refused = call()
        refused.outcome.error = error
        metrics.call_ended(refused)
    found = {dict(k[1])["limit"]: v for k, v in samples(metrics).items() if k[0] == "basalt_limit_rejections_total"}
    assert found == {"budget": 1, "concurrency": 1}


def test_the_flow_tells_the_metrics_of_retries_fallbacks_and_masking(tmp_path: Path) -> None:
    failing = MockProvider(lambda request: _fail(), model="down")
    working = MockProvider(text_answer("Hi", " there", " you"), model="up")
    policy = RetryPolicy(retries=1, backoff=0.001, max_delay=0.01, cooldown=60)
    router = Router(
        "m", [Target(failing, "down", 10**12, label="mock:down"), Target(working, "up", label="mock:up")], policy
    )
    control = ControlPlane(Settings(home=tmp_path, serve_local=False))
    control.prepare()
    catalog = Catalog()
    catalog.register(router)
    guardrails = Guardrails()
    mask = {
        "name": "mask",
        "version": 2,
        "sensitive_information": {"entities": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    }
    guardrails.add(GuardrailConfig.model_validate(mask))
    metrics = Metrics(lambda: None, control.ledgers)
    flow = Flow(catalog, control, guardrails, {"m": "mask:2"}, Observers([metrics]))

    async def go() -> None:
        the_call = call(text="write to a@example.com")
        _ = [batch async for batch in await flow.answer(the_call)]
        await control.close()

    asyncio.run(go())
    found = samples(metrics)

    def value(name: str, **labels: str) -> float:
        return found.get((name, frozenset(labels.items())), 0.0)

    assert value("basalt_upstream_attempts_total", deployment="mock:down", error_type="overloaded_error") == 2
    assert value("basalt_upstream_retries_total", deployment="mock:down") == 1
    assert value("basalt_upstream_fallbacks_total", deployment="mock:down") == 1
    assert value("basalt_upstream_cooldowns_total", deployment="mock:down") == 1
    assert value("basalt_upstream_attempts_total", deployment="mock:up", error_type="") == 1
    masked = {"guardrail": "mask", "version": "2", "action": "ANONYMIZED", "policy": "sensitiveInformationPolicy"}
    assert value("basalt_guardrail_interventions_total", stage="input", **masked) == 1
    assert value("basalt_guardrail_interventions_total", stage="output", **masked) == 0  # the answer had no email
    genai = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "mock", "gen_ai_request_model": "m"}
    assert value("gen_ai_server_time_per_output_token_seconds_count", **genai) == 1
    assert value("gen_ai_client_token_usage_sum", **genai, gen_ai_token_type="output") == 3


def _fail() -> Any:
    from basalt.errors import Overloaded

    raise Overloaded("busy upstream")


def test_the_ledger_lag_is_the_oldest_unflushed_rows_wait(tmp_path: Path) -> None:
    async def go() -> None:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'late.db'}").connect()  # no tables yet: every write fails
        ledger = Ledger(store, Journal(tmp_path / "ledger", "test:1"))
        metrics = Metrics(lambda: None, lambda: [ledger])
        assert (ledger.unflushed, ledger.lag_seconds()) == (0, 0.0)
        row = {"request_id": "a", "endpoint": "messages", "model": "m", "status": "reserved", "instance": "test:1"}
        await ledger.reserve({**row, "started_at": time.time(), "reserved_input_tokens": 1})
        ledger.settle({"request_id": "a", "status": "ok", "output_tokens": 2, "finished_at": time.time()})
        await asyncio.sleep(0.6)  # the first write (after 0.2 s) failed; the rows wait in the journal
        assert ledger.unflushed == 2 and ledger.lag_seconds() >= 0.5
        found = samples(metrics)
        assert found[("basalt_ledger_unflushed_rows", frozenset())] == 2
        assert found[("basalt_ledger_lag_seconds", frozenset())] >= 0.5
        await store.migrate()
        await asyncio.wait_for(ledger.flush(), 15)
        assert (ledger.unflushed, ledger.lag_seconds()) == (0, 0.0)
        assert samples(metrics)[("basalt_ledger_unflushed_rows", frozenset())] == 0
        await ledger.close()
        await store.close()

    asyncio.run(go())
