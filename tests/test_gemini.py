"""The Gemini provider against a stand-in that speaks Gemini's documented wire format: what the upstream receives,
and what each dialect's client gets back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment

from .fakes.gemini import GeminiScript, build_gemini_app, text_reply
from .fakes.upstream import serving

TOOL = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InProcess, GeminiScript]]:
    monkeypatch.setenv("TEST_GEMINI_KEY", "test-key-123")
    script = GeminiScript()
    with serving(build_gemini_app(script)) as url:
        deployment = Deployment(
            name="gem", provider="gemini", model="gemini-2.5-flash", base_url=url, api_key_env="TEST_GEMINI_KEY"
        )
        with InProcess(Settings(serve_local=False, deployments=[deployment])) as gateway:
            yield gateway, script


def test_request_translation(gemini: tuple[InProcess, GeminiScript]) -> None:
    gateway, script = gemini
    script.chunks = text_reply("Sunny", " today.")
    gateway.anthropic().messages.create(
        model="gem",
        max_tokens=50,
        system="Be brief.",
        stop_sequences=["END"],
        tools=[TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[
            {"role": "user", "content": "Weather in Rome?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Rome"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "31C"}]},
        ],
        extra_body={"temperature": 0.2, "top_k": 5},
    )
    path, body, headers = script.requests[0]
    assert path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert headers["x-goog-api-key"] == "test-key-123"
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Rome?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "31C"}}}]},
    ]
    assert body["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.2, "topK": 5, "stopSequences": ["END"]}
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


def test_text_answer_in_both_dialects(gemini: tuple[InProcess, GeminiScript]) -> None:
    gateway, script = gemini
    script.chunks = text_reply("Hello", " there", "!")
    message = gateway.anthropic().messages.create(
        model="gem", max_tokens=20, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.content[0].text == "Hello there!"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 3)
    chunks = list(
        gateway.openai().chat.completions.create(
            model="gem",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there!"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 11


def test_function_call_and_stop_reasons(gemini: tuple[InProcess, GeminiScript]) -> None:
    gateway, script = gemini
    script.chunks = [
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5},
        }
    ]
    message = gateway.anthropic().messages.create(
        model="gem", max_tokens=20, tools=[TOOL], messages=[{"role": "user", "content": "Oslo?"}]
    )
    assert message.stop_reason == "tool_use"
    (call,) = message.content
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "Oslo"}
    completion = gateway.openai().chat.completions.create(
        model="gem",
        messages=[{"role": "user", "content": "Oslo?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": TOOL["input_schema"]}}],  # type: ignore[list-item]
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    assert json.loads(completion.choices[0].message.tool_calls[0].function.arguments) == {"city": "Oslo"}  # type: ignore[index, union-attr]
    script.chunks = text_reply("cut", finish="MAX_TOKENS")
    assert (
        gateway.anthropic()
        .messages.create(model="gem", max_tokens=1, messages=[{"role": "user", "content": "x"}])
        .stop_reason
        == "max_tokens"
    )
    script.chunks = text_reply("no", finish="SAFETY")
    assert (
        gateway.anthropic()
        .messages.create(model="gem", max_tokens=9, messages=[{"role": "user", "content": "x"}])
        .stop_reason
        == "refusal"
    )


def test_count_tokens_and_errors(gemini: tuple[InProcess, GeminiScript]) -> None:
    gateway, script = gemini
    assert (
        gateway.anthropic()
        .messages.count_tokens(model="gem", messages=[{"role": "user", "content": "Hi"}])
        .input_tokens
        == 42
    )
    script.status = 400
    with pytest.raises(anthropic.BadRequestError, match="API key not valid"):
        gateway.anthropic(max_retries=0).messages.create(
            model="gem", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_what_gemini_cannot_express_is_refused(gemini: tuple[InProcess, GeminiScript]) -> None:
    gateway, _ = gemini
    with pytest.raises(anthropic.BadRequestError, match="answers no earlier tool_use"):
        gateway.anthropic(max_retries=0).messages.create(
            model="gem",
            max_tokens=5,
            messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}]}],
        )
