"""The two directions of the Chat Completions codec are inverses: what the provider encodes, the dialect decodes back
into the same canonical request, and what the dialect encodes as an answer (whole or streamed), the provider decodes
back into the same canonical answer. Each case goes through JSON bytes, as it would over the wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from basalt.canonical import fold_events, parse_messages_request
from basalt.canonical.events import Event, EventBatch, EventWriter
from basalt.wire.chat import (
    FINISH_REASONS,
    STOP_REASONS,
    ChunkDecoder,
    ChunkEncoder,
    decode_completion,
    decode_image,
    decode_request,
    decode_usage,
    encode_completion,
    encode_image,
    encode_request,
    encode_usage,
    parse_chat_request,
)

MODEL = "m"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"name": "weather", "description": "The weather in a city.", "input_schema": SCHEMA}
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
URL = "data:image/jpeg;base64,/9j/4AAQ"

# Canonical requests as the dialect decodes them (its normal form: an assistant turn is a list of blocks, a user turn
# of text alone is a string, a tool result is text in a turn of its own), one per feature of the mapping.
REQUESTS: dict[str, dict[str, Any]] = {
    "text": {
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
            {"role": "user", "content": "Name a colour."},
        ],
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 7,
        "frequency_penalty": 0.5,
        "presence_penalty": -1.0,
        "stream": True,
    },
    "images": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Which is brighter?"},
                    {"type": "image", "source": PNG},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/b.jpg"}},
                ],
            }
        ]
    },
    "tools and tool results": {
        "messages": [
            {"role": "user", "content": "Weather in Oslo and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome", "n": [1, 2.5]}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "rain"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_2", "content": ""}]},
        ],
        "tools": [WEATHER, {"name": "noop", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    },
    "tool choice any": {"tools": [WEATHER], "tool_choice": {"type": "any"}},
    "tool choice named": {"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "weather"}},
    "tool choice none": {"tools": [WEATHER], "tool_choice": {"type": "none"}},
    "stop sequences": {"stop_sequences": ["END", "\n\n"], "max_tokens": 5},
    "response format": {"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}, "ignore_eos": True},
}


def canonical_request(case: dict[str, Any]) -> dict[str, Any]:
    body = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Go."}], **case}
    return parse_messages_request(body).model_dump(exclude_none=True, by_alias=True)


def chat_round_trip(body: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions body through the dialect's decoder and the provider's encoder."""
    return encode_request(decode_request(parse_chat_request(orjson.dumps(body))), MODEL)


def canonical_round_trip(request: dict[str, Any]) -> dict[str, Any]:
    """A canonical request through the provider's encoder and the dialect's decoder."""
    chat = orjson.dumps(encode_request(parse_messages_request(request), MODEL))
    return decode_request(parse_chat_request(chat)).model_dump(exclude_none=True, by_alias=True)


@pytest.mark.parametrize("name", REQUESTS)
def test_a_canonical_request_comes_back_from_chat_completions_unchanged(name: str) -> None:
    request = canonical_request(REQUESTS[name])
    assert canonical_round_trip(request) == request


@pytest.mark.parametrize("name", REQUESTS)
def test_a_chat_request_in_the_providers_form_comes_back_unchanged(name: str) -> None:
    body = encode_request(parse_messages_request(canonical_request(REQUESTS[name])), MODEL)
    assert chat_round_trip(body) == body


# Chat requests as callers write them, in forms the encoder does not produce: whatever the dialect makes of them,
# the provider carries to the next hop without loss.
CALLER_REQUESTS: dict[str, dict[str, Any]] = {
    "system and developer": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": URL}}],
            },
        ],
        "max_tokens": 9,
        "stop": "END",
    },
    "compact arguments": {
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
            },
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "ok"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
    },
    "json object": {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}},
}


@pytest.mark.parametrize("name", CALLER_REQUESTS)
def test_what_the_dialect_decodes_survives_the_providers_encoding(name: str) -> None:
    body = {"model": MODEL, **CALLER_REQUESTS[name]}
    decoded = decode_request(parse_chat_request(orjson.dumps(body))).model_dump(exclude_none=True, by_alias=True)
    assert canonical_round_trip(decoded) == decoded


def test_the_known_one_way_mappings() -> None:
    """What Chat Completions has no place for, pinned so that a change to it is seen: several tool results in one
    turn come back as a turn each (one tool message per result), a user turn of several text blocks as one text,
    and the caller's user id (metadata.user_id, from `user`) is not sent upstream."""
    results = [{"type": "tool_result", "tool_use_id": i, "content": i} for i in ("a", "b")]
    texts = [{"type": "text", "text": t} for t in ("a", "b")]
    turns = [{"role": "user", "content": results}, {"role": "assistant", "content": texts}]
    request = canonical_request(
        {"messages": [*turns, {"role": "user", "content": texts}], "metadata": {"user_id": "u"}}
    )
    back = canonical_round_trip(request)
    assert back["messages"][:2] == [{"role": "user", "content": [result]} for result in results]
    assert back["messages"][3:] == [{"role": "user", "content": "a\n\nb"}]
    assert "metadata" not in back


# Answers: built the way the providers build them, with the canonical EventWriter.


def text_answer(w: EventWriter) -> list[Event]:
    return w.start() + w.text("H") + w.text("ello, ") + w.text('"wörld" \u2028\n') + w.end("end_turn")


def tool_answer(w: EventWriter) -> list[Event]:
    events = w.text("Looking.")
    index, more = w.tool("call_1", "weather")
    events += more + w.tool_input(index, '{"city":') + w.tool_input(index, ' "Oslo"}')
    index, more = w.tool("call_2", "weather")
    return events + more + w.tool_input(index, '{"city": "Rome"}') + w.end("tool_use")


def tool_only_answer(w: EventWriter) -> list[Event]:
    _, events = w.tool("call_9", "noop")
    return events + w.end("tool_use")


def cut_short(w: EventWriter) -> list[Event]:
    w.usage = {"input_tokens": 12, "output_tokens": 3, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 0}
    return w.start() + w.text("One, two") + w.end("max_tokens")


def refused(w: EventWriter) -> list[Event]:
    return w.start() + w.end("refusal")


ANSWERS: dict[str, Callable[[EventWriter], list[Event]]] = {
    "text": text_answer,
    "text and parallel tool calls": tool_answer,
    "a tool call alone": tool_only_answer,
    "cut short, with cached prompt tokens": cut_short,
    "refused": refused,
}
USAGE = {"input_tokens": 21, "output_tokens": 8, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}


def answer(name: str) -> list[Event]:
    writer = EventWriter(MODEL)
    writer.usage = dict(USAGE)
    return ANSWERS[name](writer)


def fold(events: list[Event]) -> dict[str, Any]:
    async def batches() -> AsyncIterator[EventBatch]:
        yield events

    message = asyncio.run(fold_events(batches()))
    return {k: v for k, v in message.items() if k != "id"}  # a decoder names the message anew, as providers do


@pytest.mark.parametrize("name", ANSWERS)
def test_a_completion_decodes_back_into_the_message_it_encodes(name: str) -> None:
    message = fold(answer(name))
    completion = orjson.loads(orjson.dumps(encode_completion({**message, "id": "msg_1"}, MODEL)))
    assert fold(decode_completion(completion, MODEL)) == message


@pytest.mark.parametrize("name", ANSWERS)
def test_a_chunk_stream_decodes_back_into_the_events_it_encodes(name: str) -> None:
    events = answer(name)
    encoder = ChunkEncoder(MODEL, include_usage=True)  # the provider always asks for usage
    wire = b"".join(encoder.encode(event) for event in events)
    blocks = wire.split(b"\n\n")
    assert blocks[-2:] == [b"data: [DONE]", b""]
    decoder = ChunkDecoder(MODEL)
    decoded = [event for block in blocks[:-2] for event in decoder.feed(orjson.loads(block.removeprefix(b"data: ")))]
    decoded += decoder.finish()
    # Chat Completions sends usage only at the end, so the decoded message_start has none yet; the rest is the same
    # events, and the folded answers are the same answer.
    assert decoded[0]["type"] == events[0]["type"] == "message_start"
    assert decoded[1:] == events[1:]
    assert fold(decoded) == fold(events)


def test_finish_reasons_are_one_table_and_its_inverse() -> None:
    for finish, stop in STOP_REASONS.items():
        assert FINISH_REASONS[stop] == finish
    assert set(STOP_REASONS) == set(FINISH_REASONS.values())
    for stop, finish in FINISH_REASONS.items():
        assert FINISH_REASONS[STOP_REASONS[finish]] == finish, stop  # read back, it is a reason of the same kind


@pytest.mark.parametrize(
    "usage",
    [
        USAGE,
        {"input_tokens": 5, "output_tokens": 0, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0},
    ],
)
def test_usage_both_ways(usage: dict[str, int]) -> None:
    chat = encode_usage(usage)
    assert chat["total_tokens"] == chat["prompt_tokens"] + chat["completion_tokens"]
    assert decode_usage(chat) == usage
    assert encode_usage(decode_usage(chat)) == chat


def test_cache_writes_count_as_prompt_tokens_one_way() -> None:
    """Chat Completions has no count of tokens written to a cache: they are prompt tokens, and read back as such."""
    usage = {"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 2, "cache_creation_input_tokens": 3}
    assert decode_usage(encode_usage(usage)) == {**usage, "input_tokens": 8, "cache_creation_input_tokens": 0}


@pytest.mark.parametrize("source", [PNG, {"type": "url", "url": "https://example.com/a.png?x=1,2"}])
def test_images_both_ways(source: dict[str, str]) -> None:
    url = encode_image(source)
    assert decode_image(url, "where") == source
    assert encode_image(decode_image(url, "where")) == url
