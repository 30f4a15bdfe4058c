"""The official openai SDK against a real server on the real model."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from .conftest import Server

ASK = [{"role": "user", "content": "Write three sentences about the history of Rome."}]


def test_create(server: Server) -> None:
    completion = server.openai().chat.completions.create(model="gpt-4o-mini", messages=ASK, max_tokens=9, temperature=0)
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 9
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 9


def test_max_completion_tokens_and_developer_message(server: Server) -> None:
    client = server.openai()
    messages = [{"role": "developer", "content": "You are terse."}, *ASK]
    completion = client.chat.completions.create(model="smollm2", messages=messages, max_completion_tokens=4)
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    longer = [{"role": "developer", "content": "You are terse. Answer in French."}, *ASK]
    other = client.chat.completions.create(model="smollm2", messages=longer, max_completion_tokens=1)
    assert other.usage.prompt_tokens > completion.usage.prompt_tokens  # type: ignore[union-attr]


def test_streaming_with_usage(server: Server) -> None:
    client = server.openai()
    stream = client.chat.completions.create(
        model="smollm2", messages=ASK, max_tokens=16, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1] and chunks[-1].choices == []
    assert usage_chunks[0].usage.completion_tokens == 16  # type: ignore[union-attr]
    same = client.chat.completions.create(model="smollm2", messages=ASK, max_tokens=16, temperature=0)
    assert text == same.choices[0].message.content


def test_streaming_without_usage_sends_none(server: Server) -> None:
    chunks = list(server.openai().chat.completions.create(model="smollm2", messages=ASK, max_tokens=3, stream=True))
    assert all(c.usage is None for c in chunks)


def test_stop_parameter(server: Server) -> None:
    client = server.openai()
    free = client.chat.completions.create(model="smollm2", messages=ASK, max_tokens=30, temperature=0)
    stop = (free.choices[0].message.content or "").split()[3]
    stopped = client.chat.completions.create(model="smollm2", messages=ASK, max_tokens=30, temperature=0, stop=stop)
    assert stopped.choices[0].finish_reason == "stop"
    assert stop not in (stopped.choices[0].message.content or "")


def test_n_above_one_is_refused(server: Server) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        server.openai().chat.completions.create(model="smollm2", messages=ASK, max_tokens=3, n=2)
    assert caught.value.status_code == 400
    assert "n=1" in caught.value.message


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by its number",
            "parameters": {
                "type": "object",
                "properties": {"order_number": {"type": "integer"}, "include_items": {"type": "boolean"}},
                "required": ["order_number", "include_items"],
                "additionalProperties": False,
            },
        },
    }
]


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "lookup_order"}}])
def test_forced_function_call(server: Server, tool_choice: object) -> None:
    completion = server.openai().chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Where is my order 1234?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice=tool_choice,  # type: ignore[arg-type]
        max_tokens=60,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "lookup_order"  # type: ignore[union-attr]
    jsonschema.validate(json.loads(call.function.arguments), TOOLS[0]["function"]["parameters"])  # type: ignore[union-attr, index]


def test_streamed_function_call_assembles(server: Server) -> None:
    stream = server.openai().chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Where is my order 99?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="required",
        max_tokens=60,
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
            if delta.function and delta.function.name:
                call["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert calls[0]["name"] == "lookup_order"
    jsonschema.validate(json.loads(calls[0]["arguments"]), TOOLS[0]["function"]["parameters"])  # type: ignore[index]


def test_tool_results_in_history(server: Server) -> None:
    completion = server.openai().chat.completions.create(
        model="smollm2",
        messages=[
            {"role": "user", "content": "Where is my order 1234?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup_order", "arguments": '{"order_number": 1234}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Shipped on Monday."},
        ],
        tools=TOOLS,  # type: ignore[arg-type]
        max_tokens=20,
    )
    # tool_choice is auto: an answer, or (as the small model sometimes does) another call, finished either way.
    message = completion.choices[0].message
    assert message.content or message.tool_calls
    assert completion.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_json_schema_response_format(server: Server) -> None:
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 40},
            "year": {"type": "integer"},
            "genres": {"type": "array", "items": {"type": "string", "enum": ["drama", "comedy", "action"]}},
        },
        "required": ["title", "year", "genres"],
        "additionalProperties": False,
    }
    completion = server.openai().chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Describe a famous film."}],
        response_format={"type": "json_schema", "json_schema": {"name": "film", "schema": schema, "strict": True}},
        max_tokens=150,
        temperature=0,
    )
    assert completion.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(completion.choices[0].message.content or ""), schema)


def test_models_list(server: Server) -> None:
    ids = [m.id for m in server.openai().models.list()]
    assert "smollm2" in ids and "gpt-4o-mini" in ids
    assert server.openai().models.retrieve("smollm2").owned_by == "basalt"


def test_frequency_and_presence_penalties_change_greedy_output(server: Server) -> None:
    client = server.openai()
    ask = [{"role": "user", "content": "Write the word apple thirty times."}]

    def tokens(**penalties: float) -> list[str]:
        completion = client.chat.completions.create(
            model="smollm2",
            messages=ask,
            max_tokens=48,
            temperature=0,
            **penalties,  # type: ignore[arg-type]
        )
        return (completion.choices[0].message.content or "").split()

    plain, again = tokens(), tokens(frequency_penalty=0)
    assert plain == again  # 0 is off
    penalised = tokens(frequency_penalty=2.0, presence_penalty=2.0)
    assert penalised != plain
    # Penalising every repeat leaves more distinct words in the answer.
    assert len(set(penalised)) / max(len(penalised), 1) > len(set(plain)) / max(len(plain), 1)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="smollm2", messages=ask, max_tokens=4, frequency_penalty=3)
