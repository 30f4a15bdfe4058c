"""Single hostile requests to the local model, through the real server: each gets its 400 and nobody else waits."""

from __future__ import annotations

import threading
import time
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from .conftest import Server

ASK = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ({"type": "integer", "minimum": 1000000000000000000}, "#/minimum"),  # llama.cpp grew past 20 GB on it
        ({"type": "object", "properties": [1, 2]}, "#/properties"),  # an AttributeError, a 500
    ],
)
def test_a_hostile_response_format_is_a_400_and_the_server_lives_on(
    server: Server, schema: dict[str, Any], needle: str
) -> None:
    client = server.openai()
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="smollm2", max_tokens=3, messages=ASK, response_format=fmt)  # type: ignore[arg-type]
    assert needle in str(caught.value) and "cannot be enforced" in str(caught.value)
    tool = {"name": "t", "description": "", "input_schema": schema}
    with pytest.raises(anthropic.BadRequestError) as refused:
        server.anthropic().messages.create(model="smollm2", max_tokens=3, messages=ASK, tools=[tool])  # type: ignore[arg-type, list-item]
    assert refused.value.status_code == 400 and "of tool 't'" in str(refused.value)
    assert client.chat.completions.create(model="smollm2", max_tokens=2, messages=ASK).choices  # type: ignore[arg-type]


def test_a_prompt_of_40000_messages_is_refused_quickly_while_others_are_served(server: Server) -> None:
    messages = [{"role": ("user", "assistant")[i % 2], "content": "m" * 30} for i in range(39_999)]
    body = {"model": "smollm2", "max_tokens": 3, "messages": messages}
    refused: list[httpx.Response] = []
    huge = threading.Thread(
        target=lambda: refused.append(httpx.post(server.url + "/v1/messages", json=body, timeout=60))
    )
    started = time.perf_counter()
    huge.start()
    small: list[float] = []
    while huge.is_alive() or not small:
        sent = time.perf_counter()
        assert httpx.get(server.url + "/health", timeout=10).status_code == 200
        small.append(time.perf_counter() - sent)
    took = time.perf_counter() - started
    assert refused[0].status_code == 400 and "prompt is too long" in refused[0].json()["error"]["message"]
    assert took < 5 and max(small) < 1.0, (took, max(small))


def test_claude_codes_adaptive_thinking_is_answered_by_the_local_model(server: Server) -> None:
    message = server.anthropic().messages.create(
        model="smollm2",
        max_tokens=3,
        messages=ASK,  # type: ignore[arg-type]
        thinking={"type": "adaptive", "display": "omitted"},  # type: ignore[typeddict-unknown-key, typeddict-item]
    )
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert all(block.type == "text" for block in message.content)
