"""Basalt as a gateway: a second Basalt process (the session's server, on the real model) as upstream, reached both
as an Anthropic upstream and as an OpenAI-compatible one, with the official SDKs as clients of the gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import jsonschema
import openai
import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment

from .conftest import Server
from .test_anthropic_sdk import ASK, WEATHER_TOOL

GREEDY = {"temperature": 0}


@pytest.fixture(scope="module")
def gateway(server: Server) -> Iterator[InProcess]:
    settings = Settings(
        serve_local=False,
        deployments=[
            Deployment(name="via-anthropic", provider="anthropic", model="smollm2", base_url=server.url),
            Deployment(name="via-openai", provider="openai", model="smollm2", base_url=server.url + "/v1"),
            Deployment(name="missing-upstream-model", provider="openai", model="nope", base_url=server.url + "/v1"),
            Deployment(name="unreachable", provider="anthropic", model="smollm2", base_url="http://127.0.0.1:9"),
        ],
        aliases={"claude-3-5-haiku-latest": "via-openai"},
    )
    with InProcess(settings) as running:
        yield running


@pytest.mark.parametrize("model", ["via-anthropic", "via-openai", "claude-3-5-haiku-latest"])
def test_same_answer_as_the_upstream_direct(gateway: InProcess, server: Server, model: str) -> None:
    direct = server.anthropic().messages.create(model="smollm2", max_tokens=20, messages=ASK, extra_body=GREEDY)
    through = gateway.anthropic().messages.create(model=model, max_tokens=20, messages=ASK, extra_body=GREEDY)
    assert through.model == model
    assert through.content[0].text == direct.content[0].text  # type: ignore[union-attr]
    assert through.stop_reason == direct.stop_reason == "max_tokens"
    assert through.usage.output_tokens == direct.usage.output_tokens == 20
    # The prompt's tokens, however many the engine found in its prefix cache (a cache read is not an input token).
    total = lambda usage: usage.input_tokens + (usage.cache_read_input_tokens or 0)  # noqa: E731
    assert total(through.usage) == total(direct.usage)


@pytest.mark.parametrize("model", ["via-anthropic", "via-openai"])
def test_streaming_through_both_dialects(gateway: InProcess, model: str) -> None:
    with gateway.anthropic().messages.stream(model=model, max_tokens=12, messages=ASK, extra_body=GREEDY) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text  # type: ignore[union-attr]
    chunks = list(
        gateway.openai().chat.completions.create(
            model=model, messages=ASK, max_tokens=12, temperature=0, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


@pytest.mark.parametrize("model", ["via-anthropic", "via-openai"])
def test_forced_tool_call_round_trips(gateway: InProcess, model: str) -> None:
    message = gateway.anthropic().messages.create(
        model=model,
        max_tokens=120,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Oslo for three days?"}],
    )
    assert message.stop_reason == "tool_use"
    (call,) = message.content
    assert call.type == "tool_use" and call.name == "get_weather"
    jsonschema.validate(call.input, WEATHER_TOOL["input_schema"])
    completion = gateway.openai().chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL["input_schema"]}}],  # type: ignore[list-item]
        tool_choice="required",
        max_tokens=120,
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    arguments = json.loads(completion.choices[0].message.tool_calls[0].function.arguments)  # type: ignore[index, union-attr]
    jsonschema.validate(arguments, WEATHER_TOOL["input_schema"])


def test_count_tokens_through_the_anthropic_upstream(gateway: InProcess, server: Server) -> None:
    direct = server.anthropic().messages.count_tokens(model="smollm2", messages=ASK)
    assert (
        gateway.anthropic().messages.count_tokens(model="via-anthropic", messages=ASK).input_tokens
        == direct.input_tokens
    )
    with pytest.raises(anthropic.BadRequestError, match="cannot count tokens"):
        gateway.anthropic().messages.count_tokens(model="via-openai", messages=ASK)


def test_upstream_errors_reach_the_client_in_its_dialect(gateway: InProcess) -> None:
    with pytest.raises(anthropic.NotFoundError, match="nope"):
        gateway.anthropic(max_retries=0).messages.create(model="missing-upstream-model", max_tokens=5, messages=ASK)
    with pytest.raises(openai.NotFoundError):
        gateway.openai(max_retries=0).chat.completions.create(
            model="missing-upstream-model", messages=ASK, max_tokens=5
        )  # type: ignore[arg-type]
    with pytest.raises(anthropic.InternalServerError, match="could not be reached"):
        gateway.anthropic(max_retries=0).messages.create(model="unreachable", max_tokens=5, messages=ASK)


def test_what_chat_completions_cannot_express_is_refused(gateway: InProcess) -> None:
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    with pytest.raises(anthropic.BadRequestError, match="document"):
        gateway.anthropic(max_retries=0).messages.create(
            model="via-openai",
            max_tokens=5,
            messages=[{"role": "user", "content": [document, {"type": "text", "text": "?"}]}],
        )
