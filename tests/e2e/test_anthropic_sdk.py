"""The official anthropic SDK against a real server on the real model."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import jsonschema
import pytest

from .conftest import Server

GREEDY = {"temperature": 0}
ASK = [{"role": "user", "content": "Write three sentences about the history of Rome."}]


def test_create_returns_a_complete_message(server: Server) -> None:
    client = server.anthropic()
    message = client.messages.create(model="smollm2", max_tokens=48, messages=ASK, extra_body=GREEDY)
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == "smollm2"
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 10
    assert 0 < message.usage.output_tokens <= 48


def test_max_tokens_stops_with_exactly_that_many_tokens(server: Server) -> None:
    client = server.anthropic()
    message = client.messages.create(model="smollm2", max_tokens=7, messages=ASK, extra_body=GREEDY)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 7
    # Seven tokens of English text are far shorter than 84 characters: the text was cut where the count says.
    assert len(message.content[0].text) < 7 * 12


def test_stream_events_and_final_message(server: Server) -> None:
    client = server.anthropic()
    with client.messages.stream(model="smollm2", max_tokens=24, messages=ASK, extra_body=GREEDY) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1
    assert "text" in kinds  # the SDK's text events, from content_block_delta
    assert final.stop_reason in ("end_turn", "max_tokens")
    streamed = client.messages.create(model="smollm2", max_tokens=24, messages=ASK, extra_body=GREEDY)
    assert final.content[0].text == streamed.content[0].text  # streaming and not give the same answer
    assert final.usage.output_tokens == streamed.usage.output_tokens


def test_stop_sequence(server: Server) -> None:
    client = server.anthropic()
    free = client.messages.create(model="smollm2", max_tokens=40, messages=ASK, extra_body=GREEDY).content[0].text
    words = free.split()
    stop = words[3]  # a word the greedy answer is known to contain
    message = client.messages.create(
        model="smollm2", max_tokens=40, messages=ASK, stop_sequences=[stop], extra_body=GREEDY
    )
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == stop
    assert stop not in message.content[0].text
    assert free.startswith(message.content[0].text)


def test_stop_sequence_in_stream(server: Server) -> None:
    client = server.anthropic()
    free = client.messages.create(model="smollm2", max_tokens=40, messages=ASK, extra_body=GREEDY).content[0].text
    stop = free.split()[4]
    with client.messages.stream(
        model="smollm2", max_tokens=40, messages=ASK, stop_sequences=[stop], extra_body=GREEDY
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == stop
    assert stop not in text and free.startswith(text)


def test_count_tokens_matches_the_prompt_the_model_reads(server: Server) -> None:
    client = server.anthropic()
    counted = client.messages.count_tokens(model="smollm2", messages=ASK)
    used = client.messages.create(model="smollm2", max_tokens=1, messages=ASK)
    assert counted.input_tokens == used.usage.input_tokens + (used.usage.cache_read_input_tokens or 0)
    short = client.messages.count_tokens(model="smollm2", messages=ASK, system="Be brief.")
    longer = client.messages.count_tokens(model="smollm2", messages=ASK, system="Be brief. Answer in French, please.")
    assert longer.input_tokens > short.input_tokens


def test_models_list_and_paging(server: Server) -> None:
    client = server.anthropic()
    everything = [m.id for m in client.models.list(limit=100)]
    assert {"smollm2", "smollm2-135m-instruct", "claude-3-5-haiku-latest", "gpt-4o-mini"} <= set(everything)
    paged = [m.id for m in client.models.list(limit=2)]  # the SDK's iterator follows after_id=last_id
    assert paged == everything
    first = client.models.list(limit=2)
    assert first.has_more and first.last_id == first.data[-1].id
    second = client.models.list(limit=2, after_id=first.last_id)
    assert second.data[0].id == everything[2]
    before = client.models.list(limit=1, before_id=everything[2])
    assert [m.id for m in before.data] == [everything[1]]
    one = client.models.retrieve("claude-3-5-haiku-latest")
    assert one.id == "claude-3-5-haiku-latest" and one.type == "model" and one.created_at.year >= 2025


def test_alias_serves_an_app_with_a_hard_coded_model_name(server: Server) -> None:
    message = server.anthropic().messages.create(model="claude-3-5-haiku-latest", max_tokens=5, messages=ASK)
    assert message.model == "claude-3-5-haiku-latest"
    assert message.usage.output_tokens > 0


def test_system_prompt_multi_turn_and_prefill(server: Server) -> None:
    client = server.anthropic()
    message = client.messages.create(
        model="smollm2",
        max_tokens=10,
        system=[{"type": "text", "text": "You are a terse assistant."}],
        messages=[
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": [{"type": "text", "text": "Another one, as JSON."}]},
            {"role": "assistant", "content": '{"colour": "'},
        ],
        extra_body=GREEDY,
    )
    # A prefilled answer continues the prefill: the reply completes the JSON string value.
    assert message.content[0].text
    assert not message.content[0].text.startswith('{"colour"')


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit", "days"],
        "additionalProperties": False,
    },
}
TIME_TOOL = {
    "name": "get_time",
    "description": "Get the local time in a timezone",
    "input_schema": {
        "type": "object",
        "properties": {"timezone": {"type": "string", "maxLength": 40}},
        "required": ["timezone"],
    },
}


@pytest.mark.parametrize("temperature", [0, 1])
def test_forced_tool_call_validates_against_its_schema(server: Server, temperature: float) -> None:
    client = server.anthropic()
    message = client.messages.create(
        model="smollm2",
        max_tokens=120,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "What's the weather in Paris this week?"}],
        extra_body={"temperature": temperature},
    )
    assert message.stop_reason == "tool_use"
    (call,) = message.content
    assert call.type == "tool_use" and call.name == "get_weather" and call.id.startswith("toolu_")
    jsonschema.validate(call.input, WEATHER_TOOL["input_schema"])


def test_tool_choice_any_picks_one_of_the_tools(server: Server) -> None:
    client = server.anthropic()
    with client.messages.stream(
        model="smollm2",
        max_tokens=120,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "What time is it in Tokyo?"}],
        extra_body=GREEDY,
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    (call,) = message.content
    tool = {"get_weather": WEATHER_TOOL, "get_time": TIME_TOOL}[call.name]
    jsonschema.validate(call.input, tool["input_schema"])


def test_tool_result_is_rendered_into_the_next_turn(server: Server) -> None:
    client = server.anthropic()
    messages = [
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "31 degrees, sunny"}],
        },
    ]
    with_result = client.messages.count_tokens(model="smollm2", messages=messages, tools=[WEATHER_TOOL])
    without = client.messages.count_tokens(model="smollm2", messages=messages[:1], tools=[WEATHER_TOOL])
    assert with_result.input_tokens > without.input_tokens + 15
    reply = client.messages.create(model="smollm2", max_tokens=30, messages=messages, tools=[WEATHER_TOOL])
    # tool_choice is auto: the model may answer or call the tool again; either way the reply is well formed.
    assert reply.content and reply.content[0].type in ("text", "tool_use")
    for block in reply.content:
        if block.type == "tool_use":
            assert reply.stop_reason == "tool_use"
            jsonschema.validate(block.input, WEATHER_TOOL["input_schema"])


def test_json_schema_output_parses_and_validates(server: Server) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 30},
            "population_millions": {"type": "number"},
            "landmarks": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3},
        },
        "required": ["name", "population_millions", "landmarks"],
        "additionalProperties": False,
    }
    client = server.anthropic()
    message = client.messages.create(
        model="smollm2",
        max_tokens=200,
        messages=[{"role": "user", "content": "Describe the city of Paris."}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
        extra_body=GREEDY,
    )
    assert message.stop_reason == "end_turn"
    import json

    jsonschema.validate(json.loads(message.content[0].text), schema)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                            },
                            {"type": "text", "text": "What is this?"},
                        ],
                    }
                ]
            },
            "image",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
                            {"type": "text", "text": "Summarise"},
                        ],
                    }
                ]
            },
            "document",
        ),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}], "messages": ASK}, "web_search"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": ASK}, "thinking"),
    ],
)
def test_refuses_what_a_text_model_cannot_serve(server: Server, kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        server.anthropic().messages.create(model="smollm2", max_tokens=2000, **kwargs)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "invalid_request_error"
    assert needle in body["error"]["message"]


# The small model calls a tool on its own only when told to; the grammar then fills in what the prompt left out
# (here unit and days), so the input always validates.
AUTO_CALL = (
    'Reply with exactly this text: <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
)


@pytest.mark.parametrize("stream", [False, True])
def test_tool_choice_auto_lets_the_model_call_a_tool_or_answer(server: Server, stream: bool) -> None:
    client = server.anthropic()
    kwargs: dict[str, Any] = {"model": "smollm2", "max_tokens": 120, "tools": [WEATHER_TOOL, TIME_TOOL]}
    ask = [{"role": "user", "content": AUTO_CALL}]
    if stream:
        with client.messages.stream(messages=ask, extra_body=GREEDY, **kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(messages=ask, extra_body=GREEDY, **kwargs)
    assert message.stop_reason == "tool_use"
    call = message.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather"
    jsonschema.validate(call.input, WEATHER_TOOL["input_schema"])  # the call is grammar-constrained
    assert all("<tool_call>" not in getattr(b, "text", "") for b in message.content)
    # Without a reason to call, the answer is text.
    haiku = [{"role": "user", "content": "Write a haiku about rain."}]
    plain = client.messages.create(messages=haiku, extra_body=GREEDY, **kwargs)
    assert plain.stop_reason in ("end_turn", "max_tokens") and plain.content[0].type == "text"


def test_tool_choice_auto_in_the_openai_dialect(server: Server) -> None:
    completion = server.openai().chat.completions.create(
        model="smollm2",
        max_tokens=120,
        temperature=0,
        messages=[{"role": "user", "content": AUTO_CALL}],
        tools=[{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                                  "parameters": t["input_schema"]}} for t in (WEATHER_TOOL, TIME_TOOL)],
    )  # fmt: skip
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_TOOL["input_schema"])
