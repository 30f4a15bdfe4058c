"""Log-probabilities across upstreams: an OpenAI-compatible one is asked for them and its answer's pass through; the
upstreams whose APIs have none (Anthropic, Bedrock, Gemini) refuse them, and a raw prompt, with a 400 naming the
field, rather than dropping them."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from basalt import InProcess, Settings
from basalt.canonical import fold_events, parse_messages_request
from basalt.config import Deployment
from basalt.errors import InvalidRequest
from basalt.providers.gemini import to_gemini_request
from basalt.wire.chat import ChunkDecoder, decode_completion, encode_completion, encode_request

from .fakes.upstream import fake_upstream

ASK = [{"role": "user", "content": "Hi"}]
ENTRY = {"token": "Hi", "logprob": -0.25, "bytes": [72, 105], "top_logprobs": [{"token": "Hi", "logprob": -0.25}]}


def test_a_chat_completions_upstream_is_asked_for_logprobs_and_the_others_refuse_them() -> None:
    with fake_upstream() as (url, script):
        deployments = [
            Deployment(name="gpt", provider="openai", model="up", base_url=url),
            Deployment(name="claude", provider="anthropic", model="up", base_url=url.removesuffix("/v1")),
            Deployment(name="nova", provider="bedrock", model="amazon.nova-lite-v1:0", base_url=url),
        ]
        with InProcess(Settings(serve_local=False, deployments=deployments)) as basalt:
            client = basalt.openai(max_retries=0)
            client.chat.completions.create(model="gpt", messages=ASK, logprobs=True, top_logprobs=3)  # type: ignore[arg-type]
            assert (script.requests[-1]["logprobs"], script.requests[-1]["top_logprobs"]) == (True, 3)
            client.chat.completions.create(model="gpt", messages=ASK)  # type: ignore[arg-type]
            assert "logprobs" not in script.requests[-1]
            for model in ("claude", "nova"):
                with pytest.raises(openai.BadRequestError, match="logprobs cannot be returned") as caught:
                    client.chat.completions.create(model=model, messages=ASK, logprobs=True)  # type: ignore[arg-type]
                assert caught.value.param == "logprobs"  # type: ignore[attr-defined]
            with pytest.raises(openai.BadRequestError, match="raw prompt") as raw:
                client.completions.create(model="gpt", prompt="Once upon", max_tokens=2)
            assert raw.value.param == "prompt"  # type: ignore[attr-defined]


def test_gemini_refuses_logprobs_by_name() -> None:
    request = parse_messages_request({"model": "g", "max_tokens": 5, "messages": ASK, "logprobs": 0})
    with pytest.raises(InvalidRequest, match="logprobs cannot be returned") as caught:
        to_gemini_request(request)
    assert caught.value.param == "logprobs"


def test_an_upstreams_logprobs_decode_onto_the_text_deltas_and_encode_back() -> None:
    decoder = ChunkDecoder("m")
    events = decoder.feed({"choices": [{"delta": {"content": "Hi"}, "logprobs": {"content": [ENTRY]}}]})
    events += decoder.feed({"choices": [{"delta": {}, "finish_reason": "stop"}]}) + decoder.finish()
    assert [e["delta"]["logprobs"] for e in events if e["type"] == "content_block_delta"] == [[ENTRY]]
    whole = {"choices": [{"message": {"content": "Hi"}, "finish_reason": "stop", "logprobs": {"content": [ENTRY]}}]}

    async def fold(batch: list[dict[str, Any]]) -> dict[str, Any]:
        async def once() -> Any:
            yield batch

        return await fold_events(once())

    message = asyncio.run(fold(decode_completion(whole, "m")))
    encoded = encode_completion(message, "m")["choices"][0]["logprobs"]
    assert encoded == {"content": [ENTRY], "refusal": None}
    request = parse_messages_request({"model": "m", "max_tokens": 5, "messages": ASK, "logprobs": 0})
    body = encode_request(request, "up")
    assert body["logprobs"] is True and "top_logprobs" not in body
