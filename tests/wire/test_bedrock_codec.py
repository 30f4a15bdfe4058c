"""The Bedrock codec's server side on its own: a Converse body into the canonical request (every block kind, what is
refused by name), and canonical events back into ConverseStream events and a Converse response."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from basalt.errors import InvalidRequest
from basalt.wire.bedrock import ConverseBody, ConverseStreamWriter, stop_reason_of, to_converse_response

PNG = base64.b64encode(b"\x89PNG fake").decode()


def canonical(body: dict[str, Any]) -> dict[str, Any]:
    return ConverseBody.parse(body).canonical("m", stream=False).model_dump(exclude_none=True, by_alias=True)


def test_every_block_kind_maps_to_its_canonical_block() -> None:
    body = {
        "system": [{"text": "Sys"}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Look"},
                    {"image": {"format": "png", "source": {"bytes": PNG}}},
                    {"document": {"format": "md", "name": "n", "source": {"bytes": base64.b64encode(b"# T").decode()}}},
                    {"document": {"format": "pdf", "name": "p", "source": {"bytes": PNG}}},
                    {"cachePoint": {"type": "default"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                    {"reasoningContent": {"redactedContent": "cmVk"}},
                    {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"ok": True}}], "status": "error"}}
                ],
            },
        ],
    }
    got = canonical(body)
    assert got["system"] == [{"type": "text", "text": "Sys", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    user, assistant, result = got["messages"]
    assert user["content"][1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert user["content"][2]["source"] == {"type": "text", "media_type": "text/plain", "data": "# T"}
    assert user["content"][3]["source"]["media_type"] == "application/pdf"
    assert user["content"][3]["cache_control"] == {"type": "ephemeral"}
    assert [b["type"] for b in assistant["content"]] == ["thinking", "redacted_thinking", "tool_use"]
    assert assistant["content"][0]["signature"] == "sig" and assistant["content"][1]["data"] == "cmVk"
    assert result["content"][0] == {
        "type": "tool_result", "tool_use_id": "t1", "is_error": True,
        "content": [{"type": "text", "text": '{"ok":true}'}],
    }  # fmt: skip
    assert got["max_tokens"] == 4096  # maxTokens is optional in Converse


def test_tool_config_and_additional_fields() -> None:
    spec = {"name": "f", "inputSchema": {"json": {"type": "object"}}}
    for choice, expected in (({"auto": {}}, {"type": "auto"}), ({"any": {}}, {"type": "any"}),
                             ({"tool": {"name": "f"}}, {"type": "tool", "name": "f"})):  # fmt: skip
        got = canonical(
            {
                "messages": [{"role": "user", "content": [{"text": "x"}]}],
                "toolConfig": {"tools": [{"toolSpec": spec}], "toolChoice": choice},
                "additionalModelRequestFields": {"top_k": 3, "thinking": {"type": "disabled"}},
            }
        )
        assert got["tool_choice"] == expected and got["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
        assert got["top_k"] == 3 and got["thinking"] == {"type": "disabled"}


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ([{"video": {"format": "mp4", "source": {"bytes": "AA=="}}}], "video"),
        ([{"text": "a", "image": {"format": "png", "source": {"bytes": PNG}}}], "exactly one member"),
        ([{"cachePoint": {"type": "default"}}], "must follow"),
        ([{"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}}}], "s3Location"),
        ([{"image": {"format": "png", "source": {"bytes": "not base64!"}}}], "not valid base64"),
        ([{"document": {"format": "docx", "name": "d", "source": {"bytes": "AA=="}}}], "docx"),
        ([{"toolUse": {"toolUseId": "t", "name": "bad name", "input": {}}}], "toolUse.name"),
        ([{"text": "x", "mystery": 1}], "mystery"),
    ],
)
def test_what_has_no_canonical_form_is_refused_by_name(content: list[dict[str, Any]], named: str) -> None:
    with pytest.raises(InvalidRequest, match=named):
        canonical({"messages": [{"role": "user", "content": content}]})


def test_unsupported_request_members_are_refused_by_name() -> None:
    messages = [{"role": "user", "content": [{"text": "x"}]}]
    with pytest.raises(InvalidRequest, match="promptVariables"):
        canonical({"messages": messages, "promptVariables": {"v": {"text": "x"}}})
    with pytest.raises(InvalidRequest, match=r"additionalModelRequestFields\.frequency"):
        canonical({"messages": messages, "additionalModelRequestFields": {"frequency": 1}})
    with pytest.raises(InvalidRequest, match="maxTokens"):
        canonical({"messages": messages, "inferenceConfig": {"maxTokens": 2**31}})
    with pytest.raises(InvalidRequest, match="temperature"):
        canonical({"messages": messages, "inferenceConfig": {"temperature": 1.5}})


def test_stop_reasons_map_back() -> None:
    plain = ("end_turn", "tool_use", "max_tokens", "stop_sequence")
    assert [stop_reason_of(r, False) for r in plain] == list(plain)
    assert stop_reason_of("pause_turn", False) == "end_turn"
    assert stop_reason_of("refusal", True) == "guardrail_intervened"
    assert stop_reason_of("refusal", False) == "content_filtered"


def test_stream_writer_and_response() -> None:
    writer = ConverseStreamWriter(started=0.0, guardrail=None, intervened=lambda: False)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 4, "cache_read_input_tokens": 2}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    out = [pair for e in events for pair in writer.encode(e, now=0.25)]
    assert out == [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t", "name": "f"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{}"}}}),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 4, "outputTokens": 5, "totalTokens": 11, "cacheReadInputTokens": 2,
                                "cacheWriteInputTokens": 0}, "metrics": {"latencyMs": 250}}),
    ]  # fmt: skip
    message = {
        "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    response = to_converse_response(message, 12, False, None)
    assert response["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "s"}}}, {"text": "ok"}
    ]  # fmt: skip
    assert response["metrics"] == {"latencyMs": 12} and "trace" not in response
