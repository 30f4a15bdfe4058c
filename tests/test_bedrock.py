"""The Bedrock provider against a stand-in that checks SigV4 with botocore and speaks the binary event stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import anthropic
import pytest
from botocore.eventstream import EventStreamBuffer

from basalt import InProcess, Settings
from basalt.config import Deployment
from basalt.wire.eventstream import EventStreamDecoder, EventStreamError
from basalt.wire.sigv4 import Credentials, sign

from .fakes.bedrock import ACCESS_KEY, REGION, SECRET_KEY, BedrockScript, build_bedrock_app, event, exception
from .fakes.upstream import serving

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
TOOL = {
    "name": "lookup",
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
}


def test_event_stream_frames_round_trip_through_botocore_and_ours() -> None:
    data = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hé"}}) + exception(
        "throttlingException", "slow"
    )
    theirs = EventStreamBuffer()
    theirs.add_data(data)
    parsed = list(theirs)
    assert parsed[0].headers[":event-type"] == "contentBlockDelta" and parsed[1].headers[":message-type"] == "exception"
    decoder = EventStreamDecoder()
    ours = [m for i in range(0, len(data), 7) for m in decoder.feed(data[i : i + 7])]  # fed in small pieces
    assert [m.headers for m in ours] == [dict(p.headers) for p in parsed]
    assert [m.payload for m in ours] == [p.payload for p in parsed]
    with pytest.raises(EventStreamError):
        list(EventStreamDecoder().feed(data[:-1] + bytes([data[-1] ^ 1])))


def test_signature_matches_botocores() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    url = "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3%3A0/converse-stream"
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    headers = sign("POST", url, b'{"a":1}', Credentials(ACCESS_KEY, SECRET_KEY, "token-1"), REGION, now=now)
    aws = AWSRequest(
        method="POST", url=url, data=b'{"a":1}', headers={k: v for k, v in headers.items() if k != "authorization"}
    )
    aws.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(BotoCredentials(ACCESS_KEY, SECRET_KEY, "token-1"), "bedrock", REGION)
    assert headers["authorization"].endswith(
        "Signature=" + signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    )


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[InProcess, BedrockScript]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    script = BedrockScript()
    with serving(build_bedrock_app(script)) as url:
        deployment = Deployment(name="br", provider="bedrock", model=MODEL, base_url=url)
        with InProcess(Settings(serve_local=False, deployments=[deployment])) as gateway:
            yield gateway, script


def test_text_stream_request_and_usage(bedrock: tuple[InProcess, BedrockScript]) -> None:
    gateway, script = bedrock
    script.frames = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " there"}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "end_turn"}),
        event(
            "metadata", {"usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11, "cacheReadInputTokens": 4}}
        ),
    ]
    with gateway.anthropic().messages.stream(
        model="br",
        max_tokens=30,
        system="Be kind.",
        stop_sequences=["##"],
        messages=[{"role": "user", "content": "Hello"}],
        extra_body={"temperature": 0.5, "top_k": 3},
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Hi there" and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.cache_read_input_tokens) == (9, 2, 4)
    assert script.signature_ok == [True]
    path, body = script.requests[0]
    assert path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
    assert body == {
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "system": [{"text": "Be kind."}],
        "inferenceConfig": {"maxTokens": 30, "temperature": 0.5, "stopSequences": ["##"]},
        "additionalModelRequestFields": {"top_k": 3},
    }


def test_tool_use_stream_and_tool_results(bedrock: tuple[InProcess, BedrockScript]) -> None:
    gateway, script = bedrock
    script.frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup"}}},
        ),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"q": "ba'}}}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": 'salt"}'}}}),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "tool_use"}),
        event("metadata", {"usage": {"inputTokens": 5, "outputTokens": 7}}),
    ]
    message = gateway.anthropic().messages.create(
        model="br",
        max_tokens=50,
        tools=[TOOL],
        tool_choice={"type": "any"},
        messages=[
            {"role": "user", "content": "Find basalt"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t0", "name": "lookup", "input": {"q": "rock"}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t0", "content": "igneous", "is_error": False}],
            },
        ],
    )
    assert message.stop_reason == "tool_use"
    (call,) = message.content
    assert call.type == "tool_use" and call.id == "tooluse_1" and call.input == {"q": "basalt"}
    _, body = script.requests[0]
    assert body["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": TOOL["input_schema"]}}}],
        "toolChoice": {"any": {}},
    }
    assert body["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "t0", "name": "lookup", "input": {"q": "rock"}}}
    ]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t0", "content": [{"text": "igneous"}], "status": "success"}}
    ]


def test_throttling_before_and_during_the_stream(bedrock: tuple[InProcess, BedrockScript]) -> None:
    gateway, script = bedrock
    script.status = 429
    with pytest.raises(anthropic.RateLimitError, match="Too many requests"):
        gateway.anthropic(max_retries=0).messages.create(
            model="br", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    script.status = 200
    script.frames = [
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "partial"}}),
        exception("throttlingException", "Rate exceeded"),
    ]
    with pytest.raises(anthropic.APIStatusError) as caught:  # noqa: SIM117
        with gateway.anthropic(max_retries=0).messages.stream(
            model="br", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ) as s:
            s.get_final_message()
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
