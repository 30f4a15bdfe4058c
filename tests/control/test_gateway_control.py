"""Keys, scopes, limits, budgets and the ledger, through the official SDKs against an in-process gateway whose
upstream is a scripted OpenAI-compatible server. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from basalt import InProcess, Settings
from basalt.config import ControlSettings, Deployment, Price
from basalt.inprocess import BASE_URL

from ..fakes.upstream import Script, fake_upstream
from .conftest import REDIS

ASK = [{"role": "user", "content": "Hi"}]


@dataclass
class Gateway:
    basalt: InProcess
    upstream: Script
    admin_key: str

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.basalt.http_client() as http:
            return http.request(method, path, headers={"x-api-key": self.admin_key}, **kwargs)

    def project(self, name: str, **limits: Any) -> dict[str, Any]:
        response = self.admin("POST", "/admin/projects", json={"name": name, **limits})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def key(self, project: str, **fields: Any) -> str:
        response = self.admin("POST", "/admin/keys", json={"name": "k", "project": project, **fields})
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    def anthropic(self, key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=BASE_URL, api_key=key, http_client=self.basalt.http_client(), max_retries=0)

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=BASE_URL + "/v1", api_key=key, http_client=self.basalt.http_client(), max_retries=0
        )


def gateway_settings(home: Path, upstream: str, database: str, redis: str | None = None) -> Settings:
    return Settings(
        home=home,
        serve_local=False,
        deployments=[
            Deployment(name="m", provider="openai", model="up", base_url=upstream),
            Deployment(name="other", provider="openai", model="up2", base_url=upstream),
        ],
        control=ControlSettings(auth=True, database=database, redis=redis, key_cache_seconds=0.2),
        prices={"m": Price(input=3.0, output=15.0)},
    )


@pytest.fixture(params=["memory", "redis"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Gateway]:
    redis = REDIS if request.param == "redis" else None
    with fake_upstream() as (url, script), InProcess(gateway_settings(tmp_path, url, database_url, redis)) as basalt:
        yield Gateway(basalt, script, (tmp_path / "admin-key").read_text().strip())


def ask(client: anthropic.Anthropic, model: str = "m", max_tokens: int = 20) -> Any:
    return client.messages.with_raw_response.create(model=model, max_tokens=max_tokens, messages=ASK)


def test_requests_need_a_valid_key_in_both_dialects(gateway: Gateway) -> None:
    with gateway.basalt.http_client() as http:
        missing = http.post("/v1/messages", json={"model": "m", "max_tokens": 5, "messages": ASK})
        assert missing.status_code == 401 and "Missing API key" in missing.json()["error"]["message"]
        missing = http.post("/v1/chat/completions", json={"model": "m", "messages": ASK})
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    for key in ("nonsense", "bsk_0123456789abcdef_wrongsecret"):
        with pytest.raises(anthropic.AuthenticationError) as a:
            ask(gateway.anthropic(key))
        assert a.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        with pytest.raises(openai.AuthenticationError) as o:
            gateway.openai(key).chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
        assert o.value.code == "invalid_api_key"
    assert gateway.upstream.requests == []
    p = gateway.project("p")
    key = gateway.key(p["id"])
    assert ask(gateway.anthropic(key)).parse().content[0].text == "Hello from the fake upstream."
    reply = gateway.openai(key).chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello from the fake upstream."


def test_keys_are_stored_hashed_and_listed_without_secrets(gateway: Gateway) -> None:
    p = gateway.project("p")
    key = gateway.key(p["id"])
    listing = gateway.admin("GET", "/admin/keys", params={"project": "p"}).text
    assert key not in listing and key.split("_", 2)[2] not in listing
    assert key[-4:] in listing  # the hint


def test_scopes_limit_models_and_endpoints(gateway: Gateway) -> None:
    gateway.project("p")
    key = gateway.key("p", models=["m"], endpoints=["messages"])
    assert ask(gateway.anthropic(key)).status_code == 200
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        ask(gateway.anthropic(key), model="other")
    assert "may not use model 'other'" in denied.value.message
    with pytest.raises(openai.PermissionDeniedError):
        gateway.openai(key).chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
    with pytest.raises(anthropic.PermissionDeniedError):
        gateway.anthropic(key).models.list()
    with pytest.raises(anthropic.PermissionDeniedError):  # a project key is never an admin
        gateway.anthropic(key).get("/admin/projects", cast_to=object)


def test_expired_and_revoked_keys_are_refused(gateway: Gateway) -> None:
    gateway.project("p")
    short = gateway.key("p", expires_in=0.5)
    assert ask(gateway.anthropic(short)).status_code == 200
    time.sleep(0.7)
    with pytest.raises(anthropic.AuthenticationError, match="expired"):
        ask(gateway.anthropic(short))
    key = gateway.key("p")
    key_id = "key_" + key.split("_")[1]
    assert ask(gateway.anthropic(key)).status_code == 200
    assert gateway.admin("POST", f"/admin/keys/{key_id}/revoke").status_code == 200
    with pytest.raises(anthropic.AuthenticationError, match="revoked"):
        ask(gateway.anthropic(key))


def test_request_rate_limit_answers_429_with_headers(gateway: Gateway) -> None:
    gateway.project("p", rpm=2)
    key = gateway.key("p")
    first = ask(gateway.anthropic(key))
    assert first.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert first.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert first.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    raw = gateway.openai(key).chat.completions.with_raw_response.create(model="m", messages=ASK)  # type: ignore[arg-type]
    assert raw.headers["x-ratelimit-limit-requests"] == "2" and raw.headers["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(anthropic.RateLimitError) as limited:
        ask(gateway.anthropic(key))
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert 20 <= int(limited.value.response.headers["retry-after"]) <= 30
    assert limited.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    with pytest.raises(openai.RateLimitError) as o:
        gateway.openai(key).chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
    assert o.value.code == "rate_limit_exceeded" and o.value.response.headers["retry-after"]
    assert len(gateway.upstream.requests) == 2


def test_output_tokens_are_reserved_then_settled(gateway: Gateway) -> None:
    gateway.project("p", output_tpm=100)
    key = gateway.key("p")
    first = ask(gateway.anthropic(key), max_tokens=60)
    assert first.headers["anthropic-ratelimit-output-tokens-remaining"] == "40"  # max_tokens reserved
    # Settled with the 6 tokens really produced, so 94 are back (give or take the refill since).
    second = ask(gateway.anthropic(key), max_tokens=60)
    assert 34 <= int(second.headers["anthropic-ratelimit-output-tokens-remaining"]) <= 36
    with pytest.raises(anthropic.BadRequestError, match="alone needs 200"):
        ask(gateway.anthropic(key), max_tokens=200)


def test_concurrency_limit(gateway: Gateway) -> None:
    gateway.project("p", max_concurrency=1)
    key = gateway.key("p")
    gateway.upstream.actions = ["endless"]
    client = gateway.anthropic(key)
    with client.messages.stream(model="m", max_tokens=1000, messages=ASK) as stream:
        next(iter(stream))
        with pytest.raises(anthropic.RateLimitError, match="concurrent"):
            ask(gateway.anthropic(key))
    time.sleep(0.2)  # the slot is released once the abandoned stream settles
    assert ask(gateway.anthropic(key)).status_code == 200


def test_budget_stops_requests_before_the_upstream(gateway: Gateway) -> None:
    # Each answer costs 7 x $3/M + 6 x $15/M = $0.000111; the reservation of max_tokens=20 up to ~$0.000315.
    gateway.project("p", daily_budget_usd=0.0005)
    key = gateway.key("p")
    assert ask(gateway.anthropic(key)).status_code == 200
    assert ask(gateway.anthropic(key)).status_code == 200
    sent = len(gateway.upstream.requests)
    with pytest.raises(anthropic.APIStatusError) as over:
        ask(gateway.anthropic(key))
    assert over.value.status_code == 402 and over.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    assert "daily budget" in over.value.message and "resets at" in over.value.message
    with pytest.raises(openai.APIStatusError) as o:
        gateway.openai(key).chat.completions.create(model="m", messages=ASK, max_tokens=20)  # type: ignore[arg-type]
    assert o.value.status_code == 402 and o.value.code == "insufficient_quota"
    assert len(gateway.upstream.requests) == sent
    # A model with no price costs nothing, so it stays available.
    assert ask(gateway.anthropic(key), model="other").status_code == 200


def test_ledger_records_every_request_and_tenants_see_only_their_own(gateway: Gateway) -> None:
    gateway.project("a")
    gateway.project("b")
    key_a = gateway.key("a", endpoints=["messages", "usage"])
    key_b = gateway.key("b", endpoints=["messages", "usage"])
    for _ in range(3):
        ask(gateway.anthropic(key_a))
    ask(gateway.anthropic(key_b))
    gateway.upstream.actions = ["400"]
    with pytest.raises(anthropic.BadRequestError):
        ask(gateway.anthropic(key_b))

    def usage(key: str, **params: Any) -> httpx.Response:
        with gateway.basalt.http_client() as http:
            return http.get("/v1/usage", params=params, headers={"authorization": f"Bearer {key}"})

    mine = usage(key_a, group_by="project,model").json()["data"]
    assert len(mine) == 1 and mine[0]["requests"] == 3 and mine[0]["input_tokens"] == 21
    assert mine[0]["cost_usd"] == pytest.approx(3 * 0.000111)
    records = usage(key_b, records="1").json()["data"]
    assert {r["status"] for r in records} == {"ok", "error"}
    assert all(r["project_id"] == records[0]["project_id"] for r in records)
    assert usage(key_a, project=records[0]["project_id"]).status_code == 403
    everything = gateway.admin("GET", "/admin/usage", params={"group_by": "project"}).json()["data"]
    assert sorted(r["requests"] for r in everything) == [2, 3]
    row = next(r for r in records if r["status"] == "ok")
    assert row["deployment"].startswith("openai:up@") and row["latency_ms"] > 0 and row["key_id"].startswith("key_")


def test_an_unreachable_redis_is_a_retryable_overload_not_a_500(tmp_path: Path) -> None:
    with fake_upstream() as (url, script):
        settings = gateway_settings(tmp_path, url, f"sqlite+aiosqlite:///{tmp_path / 'db'}", "redis://127.0.0.1:9/0")
        with InProcess(settings) as basalt:
            gateway = Gateway(basalt, script, (tmp_path / "admin-key").read_text().strip())
            gateway.project("p", rpm=10)
            key = gateway.key("p")
            with pytest.raises(anthropic.APIStatusError) as over:
                ask(gateway.anthropic(key))
            assert over.value.status_code == 529 and "rate limiter" in over.value.message
            assert over.value.response.headers["retry-after"] == "1"
            with pytest.raises(openai.APIStatusError) as o:
                gateway.openai(key).chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
            assert o.value.status_code == 503
            assert script.requests == []
