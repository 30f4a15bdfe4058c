"""The Chat Completions codec one direction at a time: requests -> canonical request, canonical events -> chunks."""

import json
from typing import Any

import orjson
import pytest

from basalt.errors import InvalidRequest
from basalt.wire.chat import ChunkEncoder, decode_request, encode_completion, parse_chat_request


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    return decode_request(parse_chat_request(json.dumps(body).encode())).model_dump(exclude_none=True, by_alias=True)


def test_system_developer_tools_and_tool_results() -> None:
    out = canonical(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
                {"role": "user", "content": "Order 5?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"n": 5}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "stop": "END",
            "max_completion_tokens": 30,
            "seed": 3,
        }
    )
    assert out["system"] == "Be brief.\n\nUse tools."
    assert out["max_tokens"] == 30 and out["stop_sequences"] == ["END"] and out["seed"] == 3
    assert out["messages"][1]["content"][0] == {"type": "tool_use", "id": "c1", "name": "f", "input": {"n": 5}}
    assert out["messages"][2]["content"][0]["type"] == "tool_result"
    assert out["messages"][2]["content"][0]["tool_use_id"] == "c1"
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["tools"][0]["input_schema"] == {"type": "object"}


def test_images_become_image_blocks_and_formats_become_output_config() -> None:
    out = canonical(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                }
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        }
    )
    assert out["messages"][0]["content"][1]["source"] == {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    assert out["output_config"]["format"] == {"type": "json_schema", "schema": {"type": "object"}}


@pytest.mark.parametrize(
    "extra",
    [{"n": 3}, {"top_logprobs": 2}, {"frequency_penalty": 2.5}, {"logit_bias": {"1": 2}}],
)
def test_unsupported_options_are_refused_not_dropped(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        canonical({"model": "m", "messages": [{"role": "user", "content": "x"}], **extra})


def test_repetition_penalties_are_carried_and_zero_means_off() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    out = canonical({**base, "frequency_penalty": 0.5, "presence_penalty": -1.0})
    assert (out["frequency_penalty"], out["presence_penalty"]) == (0.5, -1.0)
    out = canonical({**base, "frequency_penalty": 0, "presence_penalty": 0})
    assert "frequency_penalty" not in out and "presence_penalty" not in out


def test_chunks_for_a_tool_call_stream_and_usage() -> None:
    enc = ChunkEncoder("m", include_usage=True)
    usage = {"input_tokens": 10, "output_tokens": 0, "cache_read_input_tokens": 4}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_abc", "usage": usage}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}},
        {"type": "message_stop"},
    ]
    lines = b"".join(enc.encode(e) for e in events).decode().strip().split("\n\n")
    assert lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    first_call = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
    assert first_call == {"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    assert chunks[2]["choices"][0]["delta"]["tool_calls"][0] == {"index": 0, "function": {"arguments": '{"a":'}}
    assert chunks[4]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["prompt_tokens"] == 14
    assert chunks[5]["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert all(c["id"] == "chatcmpl-abc" for c in chunks)


def test_completion_from_a_folded_message() -> None:
    message = {
        "id": "msg_x",
        "content": [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    out = encode_completion(message, "m")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "Hi"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"a": 1}
    assert out["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
