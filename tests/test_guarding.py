"""Guardrails in the request flow, through the official SDKs: input checks before the model, output checks on the
stream in both modes and both dialects, attachment by request header and by key, the ledger record, and the
ApplyGuardrail endpoint. The upstream is a scripted OpenAI-compatible server, so the answers are known."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from basalt import InProcess, Settings
from basalt.config import ControlSettings, Deployment
from basalt.guard import GuardrailConfig

from .fakes.upstream import Script, fake_upstream

ASK = [{"role": "user", "content": "What is on file?"}]
SPLIT_CARD = "say:Your card is 4111 1111 11|11 1111 on file.| Thanks."  # a card number cut across two deltas


def guardrail(name: str, mode: str) -> GuardrailConfig:
    return GuardrailConfig.model_validate(
        {
            "name": name,
            "version": 1,
            "stream_mode": mode,
            "blocked_input_message": "Input blocked by policy.",
            "blocked_output_message": "Output blocked by policy.",
            "words": {"words": ["project zeus"], "action": "BLOCK"},
            "sensitive_information": {
                "entities": [
                    {"type": "CREDIT_CARD", "action": "ANONYMIZE"},
                    {"type": "US_SSN", "action": "BLOCK"},
                ]
            },
        }
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcess, Script, str]]:
    home = tmp_path_factory.mktemp("guarded")
    with fake_upstream() as (url, script):
        settings = Settings(
            home=home,
            serve_local=False,
            deployments=[Deployment(name="m", provider="openai", model="up", base_url=url)],
            control=ControlSettings(auth=True, key_cache_seconds=0),
            guardrails=[guardrail("masking", "sync"), guardrail("watching", "async")],
        )
        with InProcess(settings) as basalt:
            yield basalt, script, (home / "admin-key").read_text().strip()


def admin(gateway: tuple[InProcess, Script, str], method: str, path: str, **kwargs: Any) -> Any:
    basalt, _, key = gateway
    with basalt.http_client() as http:
        response = http.request(method, path, headers={"x-api-key": key}, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


@pytest.fixture(scope="module")
def key(gateway: tuple[InProcess, Script, str]) -> str:
    admin(gateway, "POST", "/admin/projects", json={"name": "guarded"})
    return str(admin(gateway, "POST", "/admin/keys", json={"name": "k", "project": "guarded"})["key"])


def clients(gateway: tuple[InProcess, Script, str], key: str, guard: str) -> tuple[anthropic.Anthropic, openai.OpenAI]:
    basalt = gateway[0]
    headers = {"basalt-guardrail": guard} if guard else {}
    return (
        basalt.anthropic(api_key=key, default_headers=headers, max_retries=0),
        basalt.openai(api_key=key, default_headers=headers, max_retries=0),
    )


def test_sync_mode_masks_a_card_split_across_deltas_in_both_dialects(
    gateway: tuple[InProcess, Script, str], key: str
) -> None:
    claude, gpt = clients(gateway, key, "masking:1")
    script = gateway[1]
    script.actions = [SPLIT_CARD]
    with claude.messages.stream(model="m", max_tokens=50, messages=ASK) as stream:
        text = "".join(stream.text_stream)
    assert text == "Your card is {CREDIT_CARD} on file. Thanks."
    script.actions = [SPLIT_CARD]
    chunks = gpt.chat.completions.create(model="m", messages=ASK, stream=True)  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your card is {CREDIT_CARD} on file. Thanks."
    script.actions = [SPLIT_CARD]  # non-streaming is the folded stream
    reply = gpt.chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Your card is {CREDIT_CARD} on file. Thanks."


SSN = "say:Sure. My SSN is 078-05-|1120 and| more text follows here."


@pytest.mark.parametrize("guard", ["masking:1", "watching:1"])
def test_blocked_output_becomes_a_refusal_in_both_dialects(
    gateway: tuple[InProcess, Script, str], key: str, guard: str
) -> None:
    claude, gpt = clients(gateway, key, guard)
    script = gateway[1]
    script.actions = [SSN]
    with claude.messages.stream(model="m", max_tokens=50, messages=ASK) as stream:
        for _ in stream:
            pass
        final = stream.get_final_message()
    assert final.stop_reason == "refusal"
    assert final.content[-1].text == "Output blocked by policy."  # type: ignore[union-attr]
    released = "".join(b.text for b in final.content[:-1] if b.type == "text")  # type: ignore[union-attr]
    assert "more text follows" not in released  # the stream stopped at the finding
    if guard == "masking:1":  # sync: nothing unchecked was released; async releases first and stops behind
        assert "078-05" not in released
    script.actions = [SSN]
    reply = gpt.chat.completions.create(model="m", messages=ASK)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "content_filter"
    assert reply.choices[0].message.content == "Output blocked by policy."


def test_blocked_input_never_reaches_the_model_and_is_in_the_ledger(
    gateway: tuple[InProcess, Script, str], key: str
) -> None:
    claude, gpt = clients(gateway, key, "masking:1")
    script = gateway[1]
    sent = len(script.requests)
    ask = [{"role": "user", "content": "Tell me about Project  Zeus."}]
    raw = claude.messages.with_raw_response.create(
        model="m", max_tokens=20, messages=ask, extra_headers={"basalt-guardrail-trace": "enabled"}
    )
    message = raw.parse()
    assert message.stop_reason == "refusal" and message.content[0].text == "Input blocked by policy."  # type: ignore[union-attr]
    trace = raw.http_response.json()["guardrail"]
    assert trace["action"] == "GUARDRAIL_INTERVENED" and trace["assessments"]
    reply = gpt.chat.completions.create(model="m", messages=ask)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "content_filter"
    assert len(script.requests) == sent
    records = admin(gateway, "GET", "/admin/usage", params={"records": "1", "limit": "5"})["data"]
    assert [r["guardrail_action"] for r in records[:2]] == ["INTERVENED", "INTERVENED"]


def test_masked_input_is_what_the_model_receives(gateway: tuple[InProcess, Script, str], key: str) -> None:
    claude, _ = clients(gateway, key, "masking:1")
    script = gateway[1]
    ask = [{"role": "user", "content": "Charge 4111 1111 1111 1111 please."}]
    claude.messages.create(model="m", max_tokens=20, messages=ask)  # type: ignore[arg-type]
    assert script.requests[-1]["messages"][-1]["content"] == "Charge {CREDIT_CARD} please."
    records = admin(gateway, "GET", "/admin/usage", params={"records": "1", "limit": "1"})["data"]
    assert records[0]["guardrail_action"] == "ANONYMIZED"
    # The deployment that answered is recorded for a masked request too (the router used to note it on the masked
    # copy of the request, and the ledger read the original's).
    assert records[0]["deployment"] is not None
    assert records[0]["deployment"].startswith("openai:up@")


def test_a_guardrail_attached_to_a_key_applies_without_a_header(
    gateway: tuple[InProcess, Script, str], key: str
) -> None:
    guarded = admin(gateway, "POST", "/admin/keys", json={"name": "g", "project": "guarded", "guardrail": "masking:1"})
    claude, _ = clients(gateway, guarded["key"], "")
    gateway[1].actions = [SPLIT_CARD]
    reply = claude.messages.create(model="m", max_tokens=20, messages=ASK)  # type: ignore[arg-type]
    assert reply.content[0].text == "Your card is {CREDIT_CARD} on file. Thanks."  # type: ignore[union-attr]
    plain, _ = clients(gateway, key, "")
    gateway[1].actions = [SPLIT_CARD]
    reply = plain.messages.create(model="m", max_tokens=20, messages=ASK)  # type: ignore[arg-type]
    assert "4111 1111 1111 1111" in reply.content[0].text  # type: ignore[union-attr]


def test_unknown_guardrail_is_a_400(gateway: tuple[InProcess, Script, str], key: str) -> None:
    claude, _ = clients(gateway, key, "nope:3")
    with pytest.raises(anthropic.BadRequestError, match="nope"):
        claude.messages.create(model="m", max_tokens=20, messages=ASK)  # type: ignore[arg-type]
    basalt, _, admin_key = gateway
    with basalt.http_client() as http:
        body = {"name": "k2", "project": "guarded", "guardrail": "nope:3"}
        refused = http.post("/admin/keys", json=body, headers={"x-api-key": admin_key})
        assert refused.status_code == 400 and "not defined" in refused.json()["error"]["message"]


def test_a_request_adds_a_bounded_number_of_guardrails(gateway: tuple[InProcess, Script, str], key: str) -> None:
    script = gateway[1]
    sent = len(script.requests)
    claude, _ = clients(gateway, key, ",".join(f"g{i}:1" for i in range(17)))
    with pytest.raises(anthropic.BadRequestError, match="at most 16 guardrails"):
        claude.messages.create(model="m", max_tokens=20, messages=ASK)  # type: ignore[arg-type]
    claude, _ = clients(gateway, key, ",".join(["masking:1"] * 40))  # the same one many times is the same one
    claude.messages.create(model="m", max_tokens=20, messages=ASK)  # type: ignore[arg-type]
    assert len(script.requests) == sent + 1


def test_apply_guardrail_endpoint_and_admin_definitions(gateway: tuple[InProcess, Script, str], key: str) -> None:
    created = admin(
        gateway,
        "POST",
        "/admin/guardrails",
        json={"name": "emails", "version": 2, "sensitive_information": {"entities": [{"type": "EMAIL"}]}},
    )
    assert created["name"] == "emails"
    basalt = gateway[0]
    body = {"source": "OUTPUT", "content": [{"text": {"text": "Write to ana@example.org today."}}]}
    with basalt.http_client() as http:
        applied = http.post("/v1/guardrails/emails/versions/2/apply", json=body, headers={"x-api-key": key})
        assert applied.status_code == 200, applied.text
        result = applied.json()
        assert result["action"] == "GUARDRAIL_INTERVENED"
        assert result["outputs"] == [{"text": "Write to {EMAIL} today."}]
        assert http.post("/v1/guardrails/emails/versions/2/apply", json=body).status_code == 401
        assert http.post("/v1/guardrails/x/versions/1/apply", json=body, headers={"x-api-key": key}).status_code == 404


def test_definitions_persist_across_restarts(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, serve_local=False, control=ControlSettings(auth=False))
    with InProcess(settings) as basalt, basalt.http_client() as http:
        definition = {"name": "kept", "version": 1, "words": {"words": ["secret"]}}
        assert http.post("/admin/guardrails", json=definition).status_code == 201
    with InProcess(settings) as basalt, basalt.http_client() as http:
        names = [g["name"] for g in http.get("/admin/guardrails").json()["data"]]
        assert names == ["kept"]
