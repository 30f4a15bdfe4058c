"""The Anthropic pass-through is lossless: on an Anthropic-protocol upstream, what the client sent arrives unchanged
(the model name aside), whatever Basalt's own models know: body, query string, anthropic-version, anthropic-beta,
and `stream: false` as a non-streaming call. Providers that translate refuse what they cannot carry, by name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment, RouterSettings

from .fakes.upstream import ANTHROPIC_MESSAGE, Recording, fake_anthropic_upstream, fake_upstream

ASK = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[InProcess, Recording]]:
    with fake_anthropic_upstream() as (url, recording), fake_upstream() as (openai_url, _):
        deployments = [
            Deployment(name="claude", provider="anthropic", model="claude-up", base_url=url),
            Deployment(name="gpt", provider="openai", model="gpt-up", base_url=openai_url),
        ]
        settings = Settings(serve_local=False, deployments=deployments, router=RouterSettings(retries=0))
        with InProcess(settings) as basalt:
            yield basalt, recording


def expected_reply(model: str = "claude") -> dict[str, Any]:
    return {**ANTHROPIC_MESSAGE, "model": model}


def test_newer_and_unknown_fields_reach_the_upstream_unchanged(gateway: tuple[InProcess, Recording]) -> None:
    basalt, recording = gateway
    client = basalt.anthropic(max_retries=0)
    extra = {
        "user_profile_id": "up_body",  # where the TypeScript SDK of Claude Code 2.1 puts it
        "future_field": {"nested": [1, 2.5, None, "x"]},
        "context_management": {"edits": [{"type": "clear"}]},
    }
    raw = client.beta.messages.with_raw_response.create(
        model="claude",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hi", "future_message_field": True}],  # type: ignore[typeddict-unknown-key]
        thinking={"type": "adaptive", "display": "omitted"},
        user_profile_id="up_123",
        metadata={"user_id": "u-1", "future_metadata": 3},  # type: ignore[typeddict-unknown-key]
        extra_body=extra,
    )
    sent = recording.last
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["anthropic-user-profile-id"] == "up_123"  # where this SDK puts it
    assert sent["body"] == {
        "model": "claude-up",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi", "future_message_field": True}],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "metadata": {"user_id": "u-1", "future_metadata": 3},
        **extra,
    }
    assert "stream" not in sent["body"]  # the SDK's non-streaming call stays one: no stream forced upstream
    assert raw.http_response.json() == expected_reply()  # the upstream's message, field for field


def test_stream_false_is_non_streaming_upstream_and_answers_the_same_message(
    gateway: tuple[InProcess, Recording],
) -> None:
    basalt, recording = gateway
    http = basalt.http_client()
    whole = http.post("/v1/messages", json={"model": "claude", "max_tokens": 8, "messages": ASK, "stream": False})
    assert whole.status_code == 200
    assert recording.last["body"]["stream"] is False
    assert whole.json() == expected_reply()
    with basalt.anthropic(max_retries=0).messages.stream(model="claude", max_tokens=8, messages=ASK) as stream:  # type: ignore[arg-type]
        streamed = stream.get_final_message()
    assert recording.last["body"]["stream"] is True
    got = streamed.to_dict(mode="json")
    assert [got[k] for k in ("id", "model", "content", "stop_reason", "usage")] == [
        expected_reply()[k] for k in ("id", "model", "content", "stop_reason", "usage")
    ]


def test_protocol_headers_pass_through_with_a_default_version(gateway: tuple[InProcess, Recording]) -> None:
    basalt, recording = gateway
    http = basalt.http_client()
    body = {"model": "claude", "max_tokens": 8, "messages": ASK}
    assert http.post("/v1/messages", json=body).status_code == 200
    assert recording.last["headers"] == {"anthropic-version": "2023-06-01"}
    headers = {"anthropic-version": "2099-01-01", "anthropic-beta": "a-2025-01-01, b-2025-02-02"}
    assert http.post("/v1/messages?beta=true&x=1", json=body, headers=headers).status_code == 200
    assert recording.last["query"] == "beta=true&x=1"
    assert recording.last["headers"] == {
        "anthropic-version": "2099-01-01",
        "anthropic-beta": "a-2025-01-01,b-2025-02-02",
    }


def test_count_tokens_passes_body_query_and_headers_through(gateway: tuple[InProcess, Recording]) -> None:
    basalt, recording = gateway
    client = basalt.anthropic(max_retries=0, default_headers={"anthropic-version": "2099-01-01"})
    counted = client.beta.messages.count_tokens(
        model="claude",
        messages=ASK,  # type: ignore[arg-type]
        betas=["files-api-2025-04-14"],
        thinking={"type": "adaptive", "display": "omitted"},
        extra_body={"future_field": 1},
        extra_query={"beta": "true"},  # what the TypeScript SDK (Claude Code) puts on every beta call
    )
    assert counted.input_tokens == 42
    sent = recording.last
    assert (sent["path"], sent["query"]) == ("/v1/messages/count_tokens", "beta=true")
    betas = "files-api-2025-04-14,token-counting-2024-11-01"  # the SDK adds its token-counting beta itself
    assert sent["headers"] == {"anthropic-version": "2099-01-01", "anthropic-beta": betas}
    assert sent["body"] == {
        "model": "claude-up",
        "messages": ASK,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "future_field": 1,
    }


def test_a_translating_provider_refuses_unknown_fields_by_name(gateway: tuple[InProcess, Recording]) -> None:
    basalt, _ = gateway
    client = basalt.anthropic(max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match=r"future_field, metadata\.extra: Extra inputs are not perm"):
        client.messages.create(
            model="gpt",
            max_tokens=8,
            messages=ASK,  # type: ignore[arg-type]
            metadata={"user_id": "u", "extra": 1},  # type: ignore[typeddict-unknown-key]
            extra_body={"future_field": 1},
        )


MASK_CARDS = {
    "name": "cards",
    "version": 1,
    "sensitive_information": {"entities": [{"type": "CREDIT_CARD", "action": "ANONYMIZE"}]},
}


@contextmanager
def masking_gateway() -> Iterator[tuple[InProcess, Recording]]:
    """A gateway to a recording Anthropic upstream with the guardrail `cards:1`, which masks card numbers."""
    with fake_anthropic_upstream() as (url, recording):
        deployments = [Deployment(name="claude", provider="anthropic", model="claude-up", base_url=url)]
        settings = Settings(serve_local=False, deployments=deployments, guardrails=[MASK_CARDS])  # type: ignore[list-item]
        with InProcess(settings) as basalt:
            yield basalt, recording


def test_a_masked_request_keeps_its_unknown_fields_query_and_headers() -> None:
    with masking_gateway() as (basalt, recording):
        card = [{"role": "user", "content": "My card is 4111 1111 1111 1111."}]
        body = {"model": "claude", "max_tokens": 8, "messages": card, "future_field": 1}
        headers = {"anthropic-version": "2099-01-01", "basalt-guardrail": "cards:1"}
        reply = basalt.http_client().post("/v1/messages?beta=true", json=body, headers=headers)
        assert reply.status_code == 200, reply.text
    sent = recording.last
    assert "4111" not in sent["body"]["messages"][0]["content"] and sent["body"]["future_field"] == 1
    assert (sent["query"], sent["headers"]["anthropic-version"]) == ("beta=true", "2099-01-01")


def test_duplicate_keys_are_read_alike_by_the_guardrail_and_the_forwarded_body() -> None:
    """The body is validated and guarded as pydantic reads it and forwarded as orjson reads it: both take a repeated
    key's last value, so a clean first copy cannot carry a masked field past the guardrail."""
    with masking_gateway() as (basalt, recording):
        body = (
            '{"model": "claude", "max_tokens": 8, "messages": [{"role": "user", "content": "clean"}], '
            '"messages": [{"role": "user", "content": "card 4111 1111 1111 1111"}]}'
        )
        headers = {"content-type": "application/json", "basalt-guardrail": "cards:1"}
        assert basalt.http_client().post("/v1/messages", content=body, headers=headers).status_code == 200
    assert recording.last["body"]["messages"] != [{"role": "user", "content": "clean"}]
    assert "4111" not in recording.last["body"]["messages"][0]["content"]


def test_newer_values_of_known_fields_pass_through(gateway: tuple[InProcess, Recording]) -> None:
    basalt, recording = gateway
    body = {
        "model": "claude",
        "max_tokens": 8,
        "messages": ASK,
        "thinking": {"type": "future-mode"},
        "output_config": {"effort": "xhigh"},
        "service_tier": "priority",
        "speed": "turbo",
        "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "24h"}}],
    }
    assert basalt.http_client().post("/v1/messages", json=body).status_code == 200
    assert recording.last["body"] == {**body, "model": "claude-up"}
    with pytest.raises(anthropic.BadRequestError, match="thinking"):  # a translating provider cannot carry it
        basalt.anthropic(max_retries=0).messages.create(
            model="gpt",
            max_tokens=8,
            messages=ASK,  # type: ignore[arg-type]
            thinking={"type": "future-mode"},  # type: ignore[typeddict-item]
        )
