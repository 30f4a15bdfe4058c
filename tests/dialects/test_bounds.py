"""Every number a request carries is bounded before anything is admitted, stored or sent: out of range (or not
finite) is a 400 in the caller's dialect naming the field, and the upstream never hears of it. The largest value
in range goes through and its ledger row is stored (the row that used to poison the ledger)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment, RouterSettings

from ..fakes.upstream import Recording, Script, fake_anthropic_upstream, fake_upstream

MESSAGES = '"messages": [{"role": "user", "content": "Hi"}]'
# (field as the error names it, the JSON text of the request's other fields): one bad value each.
ANTHROPIC_CASES = [
    ("max_tokens", '"max_tokens": 9223372036854775808'),
    ("max_tokens", '"max_tokens": 18446744073709551616'),
    ("max_tokens", '"max_tokens": 2147483648'),
    ("max_tokens", '"max_tokens": 0'),
    ("seed", '"max_tokens": 5, "seed": 18446744073709551616'),
    ("seed", '"max_tokens": 5, "seed": -9223372036854775809'),
    ("top_k", '"max_tokens": 5, "top_k": 2147483648'),
    ("thinking.budget_tokens", '"max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 2147483648}'),
    ("temperature", '"max_tokens": 5, "temperature": 1e999'),
    ("temperature", '"max_tokens": 5, "temperature": NaN'),
    ("top_p", '"max_tokens": 5, "top_p": Infinity'),
    ("top_p", '"max_tokens": 5, "top_p": 1.5'),
    ("presence_penalty", '"max_tokens": 5, "presence_penalty": -1e999'),
]
OPENAI_CASES = [
    ("max_tokens", '"max_tokens": 9223372036854775808'),
    ("max_completion_tokens", '"max_completion_tokens": 18446744073709551616'),
    ("max_completion_tokens", '"max_completion_tokens": 2147483648'),
    ("seed", '"seed": 18446744073709551616'),
    ("n", '"n": 129'),
    ("top_logprobs", '"top_logprobs": 21'),
    ("temperature", '"temperature": Infinity'),
    ("top_p", '"top_p": NaN'),
    ("frequency_penalty", '"frequency_penalty": 3'),
    ("presence_penalty", '"presence_penalty": -1e999'),
    ("logit_bias.50256", '"logit_bias": {"50256": 1e999}'),
]


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[InProcess, Recording, Script]]:
    with fake_anthropic_upstream() as (url, recording), fake_upstream() as (openai_url, script):
        deployments = [
            Deployment(name="claude", provider="anthropic", model="claude-up", base_url=url),
            Deployment(name="gpt", provider="openai", model="gpt-up", base_url=openai_url),
        ]
        settings = Settings(serve_local=False, deployments=deployments, router=RouterSettings(retries=0))
        with InProcess(settings) as basalt:
            yield basalt, recording, script


@pytest.mark.parametrize(("field", "fields"), ANTHROPIC_CASES, ids=[f"{f}:{b[-24:]}" for f, b in ANTHROPIC_CASES])
def test_an_anthropic_number_out_of_range_is_a_400_naming_it(
    gateway: tuple[InProcess, Recording, Script], field: str, fields: str
) -> None:
    basalt, recording, _ = gateway
    before = len(recording.requests)
    body = f'{{"model": "claude", {fields}, {MESSAGES}}}'
    response = basalt.http_client().post("/v1/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(f"{field}: ")
    assert len(recording.requests) == before


@pytest.mark.parametrize(("field", "fields"), OPENAI_CASES, ids=[f"{f}:{b[-24:]}" for f, b in OPENAI_CASES])
def test_an_openai_number_out_of_range_is_a_400_naming_it(
    gateway: tuple[InProcess, Recording, Script], field: str, fields: str
) -> None:
    basalt, _, script = gateway
    before = len(script.requests)
    body = f'{{"model": "gpt", {fields}, {MESSAGES}}}'
    http = basalt.http_client()
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", field)
    assert error["message"].startswith(f"{field}: ")
    assert len(script.requests) == before


def test_the_largest_numbers_in_range_are_served_and_stored(gateway: tuple[InProcess, Recording, Script]) -> None:
    basalt, recording, script = gateway
    http = basalt.http_client()
    big = {"max_tokens": 2**31 - 1, "seed": 2**63 - 1, "top_k": 2**31 - 1}
    reply = http.post("/v1/messages", json={"model": "claude", "messages": [{"role": "user", "content": "Hi"}], **big})
    assert reply.status_code == 200, reply.text
    assert {k: recording.last["body"][k] for k in ("max_tokens", "top_k")} == {
        "max_tokens": 2**31 - 1,
        "top_k": 2**31 - 1,
    }
    chat = {"model": "gpt", "messages": [{"role": "user", "content": "Hi"}], "seed": -(2**63), "max_tokens": 2**31 - 1}
    assert http.post("/v1/chat/completions", json=chat).status_code == 200
    assert script.requests[-1]["seed"] == -(2**63)
    usage = http.get("/v1/usage")  # the ledger flushed both rows and answers
    assert usage.status_code == 200, usage.text


def test_a_model_name_with_a_nul_byte_is_a_404_before_anything_is_stored(
    gateway: tuple[InProcess, Recording, Script],
) -> None:
    basalt, _, _ = gateway
    http = basalt.http_client()
    ask = [{"role": "user", "content": "Hi"}]
    assert http.post("/v1/messages", json={"model": "claude\x00", "max_tokens": 5, "messages": ask}).status_code == 404
    assert http.post("/v1/chat/completions", json={"model": "gpt\x00", "messages": ask}).status_code == 404
