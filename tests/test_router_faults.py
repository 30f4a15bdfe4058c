"""Routing against scripted upstreams on real ports: retries, fallbacks, cooldowns, and faults mid-stream.
The client always gets a clean, correctly shaped result or error."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import openai
import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment, RouterSettings

from .fakes.upstream import Script, fake_upstream

ASK = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def two_upstreams() -> Iterator[tuple[InProcess, Script, Script]]:
    with fake_upstream() as (url_a, a), fake_upstream() as (url_b, b):
        settings = Settings(
            serve_local=False,
            deployments=[
                Deployment(name="m", provider="openai", model="primary", base_url=url_a, timeout=1.5),
                Deployment(name="m", provider="openai", model="backup", base_url=url_b, timeout=1.5, weight=1),
            ],
            router=RouterSettings(retries=1, backoff=0.05, max_delay=2, cooldown=60),
        )
        with InProcess(settings) as gateway:
            # Fix the order: all traffic to the primary while it is healthy.
            router = gateway.platform.catalog.resolve("m")[0]
            router.targets[1].max_concurrency = 0  # type: ignore[attr-defined]
            yield gateway, a, b


def test_healthy_upstream_answers(two_upstreams: tuple[InProcess, Script, Script]) -> None:
    gateway, a, b = two_upstreams
    message = gateway.anthropic(max_retries=0).messages.create(model="m", max_tokens=20, messages=ASK)
    assert message.content[0].text == "Hello from the fake upstream."  # type: ignore[union-attr]
    assert message.model == "m" and message.usage.input_tokens == 7
    assert len(a.requests) == 1 and not b.requests
    assert a.requests[0]["model"] == "primary" and a.requests[0]["max_completion_tokens"] == 20


def test_429_is_retried_after_retry_after(two_upstreams: tuple[InProcess, Script, Script]) -> None:
    gateway, a, _ = two_upstreams
    a.actions = ["429"]
    start = time.monotonic()
    message = gateway.anthropic(max_retries=0).messages.create(model="m", max_tokens=20, messages=ASK)
    assert time.monotonic() - start >= 0.95  # the upstream's retry-after: 1 was honoured
    assert message.stop_reason == "end_turn" and len(a.requests) == 2


@pytest.mark.parametrize("failure", ["500", "529", "503"])
def test_failing_deployment_falls_back_and_cools_down(
    two_upstreams: tuple[InProcess, Script, Script], failure: str
) -> None:
    gateway, a, b = two_upstreams
    router = gateway.platform.catalog.resolve("m")[0]
    router.targets[1].max_concurrency = None  # type: ignore[attr-defined]
    router.targets[1].in_flight = 0  # type: ignore[attr-defined]
    a.actions = [failure, failure]
    router.targets[0].in_flight = -1  # type: ignore[attr-defined]  # make the primary the least busy, so it goes first
    message = gateway.anthropic(max_retries=0).messages.create(model="m", max_tokens=20, messages=ASK)
    assert message.content[0].text == "Hello from the fake upstream."  # type: ignore[union-attr]
    assert len(a.requests) == 2 and len(b.requests) == 1  # two tries on the primary, then the backup
    router.targets[0].in_flight = 0  # type: ignore[attr-defined]
    gateway.anthropic(max_retries=0).messages.create(model="m", max_tokens=20, messages=ASK)
    assert len(a.requests) == 2 and len(b.requests) == 2  # the primary rests during its cooldown


def test_slow_first_byte_times_out_then_falls_back(two_upstreams: tuple[InProcess, Script, Script]) -> None:
    gateway, a, b = two_upstreams
    router = gateway.platform.catalog.resolve("m")[0]
    router.targets[1].max_concurrency = None  # type: ignore[attr-defined]
    router.targets[0].in_flight = -1  # type: ignore[attr-defined]
    a.actions = ["slow:5", "slow:5"]
    message = gateway.anthropic(max_retries=0).messages.create(model="m", max_tokens=20, messages=ASK)
    assert message.content[0].text == "Hello from the fake upstream."  # type: ignore[union-attr]
    assert len(b.requests) == 1


def test_client_errors_are_not_retried_or_moved(two_upstreams: tuple[InProcess, Script, Script]) -> None:
    gateway, a, b = two_upstreams
    a.actions = ["400"]
    with pytest.raises(anthropic.BadRequestError, match="bad field"):
        gateway.anthropic(max_retries=0).messages.create(model="m", max_tokens=20, messages=ASK)
    with pytest.raises(openai.BadRequestError):
        a.actions = ["400"]
        gateway.openai(max_retries=0).chat.completions.create(model="m", messages=ASK, max_tokens=5)  # type: ignore[arg-type]
    assert len(a.requests) == 2 and not b.requests


@pytest.mark.parametrize("fault", ["cut", "badjson"])
def test_a_stream_broken_mid_way_ends_with_a_clean_error(
    two_upstreams: tuple[InProcess, Script, Script], fault: str
) -> None:
    gateway, a, b = two_upstreams
    a.actions = [fault]
    client = gateway.anthropic(max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:  # noqa: SIM117
        with client.messages.stream(model="m", max_tokens=20, messages=ASK) as stream:
            for _ in stream.text_stream:
                pass
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert not b.requests  # output had reached the client: no fallback, no spliced answer
    a.actions = [fault]
    chunks = gateway.openai(max_retries=0).chat.completions.create(model="m", messages=ASK, max_tokens=5, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        for _ in chunks:
            pass


def test_client_disconnect_cancels_the_upstream_request(two_upstreams: tuple[InProcess, Script, Script]) -> None:
    gateway, a, _ = two_upstreams
    a.actions = ["endless"]
    with gateway.anthropic(max_retries=0).messages.stream(model="m", max_tokens=500, messages=ASK) as stream:
        for i, _ in enumerate(stream.text_stream):
            if i == 3:
                break
    deadline = time.monotonic() + 5
    while a.disconnected == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.disconnected == 1


def test_an_unexpected_failure_is_a_500_with_a_request_id(
    two_upstreams: tuple[InProcess, Script, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway, _, _ = two_upstreams

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway.platform.flow, "answer", broken)
    with gateway.http_client() as http:
        response = http.post("/v1/messages", json={"model": "m", "max_tokens": 5, "messages": ASK})
    assert response.status_code == 500
    assert response.json()["error"] == {"type": "api_error", "message": "Internal server error"}
    assert response.headers["request-id"].startswith("req_") and "a bug" not in response.text
    assert response.json()["request_id"] == response.headers["request-id"]


def test_generation_routes_skip_the_middleware_stack_but_not_its_duties(
    two_upstreams: tuple[InProcess, Script, Script],
) -> None:
    gateway, _, _ = two_upstreams
    app = gateway.app
    assert set(app.direct) == {"/v1/messages", "/v1/chat/completions"}  # type: ignore[attr-defined]
    with gateway.http_client() as http:
        ok = http.post("/v1/chat/completions", json={"model": "m", "max_tokens": 5, "messages": ASK})
        bad = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert ok.status_code == 200 and ok.headers["x-request-id"].startswith("req_")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert bad.headers["request-id"] == bad.headers["x-request-id"]


@pytest.mark.parametrize(("action", "target"), [
    ("redirect:307", "https://moved.example/v1/chat/completions"),
    ("redirect:301:/v2/chat/completions", "http://127.0.0.1:{port}/v2/chat/completions"),
])  # fmt: skip
def test_a_redirect_is_a_502_naming_the_new_address_never_retried(action: str, target: str) -> None:
    with fake_upstream() as (url, script):
        settings = Settings(
            serve_local=False,
            deployments=[Deployment(name="m", provider="openai", model="up", base_url=url, timeout=5)],
            router=RouterSettings(retries=2, backoff=0.05),
        )
        with InProcess(settings) as gateway:
            script.actions = [action] * 10
            with pytest.raises(anthropic.APIStatusError) as caught:
                gateway.anthropic(max_retries=2).messages.create(model="m", max_tokens=20, messages=ASK)
            with pytest.raises(openai.APIStatusError) as o:
                gateway.openai(max_retries=2).chat.completions.create(model="m", messages=ASK, max_tokens=5)  # type: ignore[arg-type]
    port = url.split(":")[2].split("/")[0]
    expected = target.format(port=port)
    assert caught.value.status_code == 502 and caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert f"to {expected};" in caught.value.message and "set the deployment's base_url" in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert o.value.status_code == 502 and expected in o.value.message
    assert len(script.requests) == 2  # one each: neither the router nor the SDKs (max_retries=2) tried again


def test_a_redirecting_deployment_falls_back_to_the_next(two_upstreams: tuple[InProcess, Script, Script]) -> None:
    gateway, a, b = two_upstreams
    a.actions = ["redirect:308"]
    message = gateway.anthropic(max_retries=0).messages.create(model="m", max_tokens=20, messages=ASK)
    assert message.content[0].text == "Hello from the fake upstream."  # type: ignore[union-attr]
    assert len(a.requests) == 1 and len(b.requests) == 1
