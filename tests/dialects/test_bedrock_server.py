"""The Bedrock Runtime dialect driven by boto3's own bedrock-runtime client, through an upstream (the fake
OpenAI-compatible server): Converse, ConverseStream, InvokeModel, its stream, CountTokens, errors as boto3 raises
them, and mid-stream failures as exception frames."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EventStreamError

from basalt import Settings
from basalt.config import Deployment, RouterSettings

from ..fakes.upstream import Script, fake_upstream
from .bedrock_servers import MODEL, basalt_server, bedrock_client

PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." + MODEL


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Any, Script]]:
    with fake_upstream() as (url, script):
        deployments = [Deployment(name="up", provider="openai", model="gpt-up", base_url=url)]
        settings = Settings(
            serve_local=False, deployments=deployments, aliases={MODEL: "up"}, router=RouterSettings(retries=0)
        )
        with basalt_server(settings) as basalt:
            yield bedrock_client(basalt), script


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_converse_answers_in_converses_shape(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    out = client.converse(
        modelId=MODEL,
        system=[{"text": "Be brief."}],
        messages=user("Hi"),
        inferenceConfig={"maxTokens": 50, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    )
    assert out["output"]["message"] == {"role": "assistant", "content": [{"text": "Hello from the fake upstream."}]}
    assert out["stopReason"] == "end_turn"
    assert out["usage"] == {
        "inputTokens": 7, "outputTokens": 6, "totalTokens": 13, "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0
    }  # fmt: skip
    assert out["metrics"]["latencyMs"] >= 0
    sent = script.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (sent["max_completion_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (50, 0.5, 0.9, ["END"])


@pytest.mark.parametrize("model_id", ["us." + MODEL, PROFILE_ARN, f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL}"])
def test_profiles_and_arns_name_the_aliased_model(upstream: tuple[Any, Script], model_id: str) -> None:
    client, _ = upstream
    assert client.converse(modelId=model_id, messages=user("Hi"))["stopReason"] == "end_turn"


def test_converse_stream_events(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    events = list(client.converse_stream(modelId=MODEL, messages=user("Hi"))["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "Hello from the fake upstream."
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 13
    assert events[-1]["metadata"]["metrics"]["latencyMs"] >= 0


def test_invoke_model_with_an_anthropic_body(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
    out = client.invoke_model(modelId=MODEL, body=json.dumps(body))
    message = json.loads(out["body"].read())
    assert message["type"] == "message" and message["model"] == MODEL
    assert message["content"] == [{"type": "text", "text": "Hello from the fake upstream."}]
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-output-token-count"] == "6"


def test_invoke_model_stream_chunks_are_anthropic_events(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}
    out = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(body))
    events = [json.loads(e["chunk"]["bytes"]) for e in out["body"]]
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1]["type"] == "message_stop"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 6


def test_count_tokens_on_an_upstream_that_cannot_count_is_a_validation_exception(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    with pytest.raises(client.exceptions.ValidationException, match="cannot count tokens"):
        client.count_tokens(modelId=MODEL, input={"converse": {"messages": user("Hi")}})


def test_errors_are_bedrock_exceptions(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="nova"):
        client.converse(modelId="amazon.nova-pro-v1:0", messages=user("Hi"))
    with pytest.raises(client.exceptions.ValidationException, match="video"):
        client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"video": {"format": "mp4", "source": {"bytes": b"x"}}}]}])
    with pytest.raises(client.exceptions.ValidationException, match="anthropic_version"):
        client.invoke_model(modelId=MODEL, body=json.dumps({"inputText": "Titan body"}))
    with pytest.raises(client.exceptions.ValidationException, match="additionalModelRequestFields.foo"):
        client.converse(modelId=MODEL, messages=user("Hi"), additionalModelRequestFields={"foo": 1})
    script.actions = ["429"] * 3  # the router's one more try after a cooldown gets the next
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=MODEL, messages=user("Hi"))
    script.actions = ["529"] * 3
    with pytest.raises(client.exceptions.ServiceUnavailableException):
        client.converse(modelId=MODEL, messages=user("Hi"))
    script.actions = []


def test_a_failure_mid_stream_is_an_exception_frame(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    script.actions = ["cut"]
    stream = client.converse_stream(modelId=MODEL, messages=user("Hi"))["stream"]
    with pytest.raises(EventStreamError) as caught:
        list(stream)
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
