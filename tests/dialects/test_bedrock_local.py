"""The Bedrock Runtime dialect on the bundled local model, driven by the real clients, unmodified: boto3's
bedrock-runtime client, anthropic.AnthropicBedrock and LangChain's ChatBedrockConverse, each pointed at a Basalt
server on a port (auth off: boto3 signs with dummy credentials, and nothing checks them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import jsonschema
import pytest
from langchain_aws import ChatBedrockConverse
from langchain_core.tools import tool

from basalt import Settings
from basalt.config import EngineSettings

from .bedrock_servers import ACCESS, MODEL, SECRET, basalt_server, bedrock_client

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
HI = [{"role": "user", "content": "Hi"}]
ANTHROPIC_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 12, "messages": HI}


@pytest.fixture(scope="module")
def url(basalt_home: Path) -> Iterator[str]:
    settings = Settings(
        home=basalt_home, aliases={MODEL: "smollm2"}, engine=EngineSettings(context_window=2048, max_seqs=4)
    )
    with basalt_server(settings) as running:
        yield running


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_boto3_converse_and_stream(url: str) -> None:
    client = bedrock_client(url)
    out = client.converse(modelId=MODEL, messages=user("Say hello."), inferenceConfig={"maxTokens": 12})
    assert out["output"]["message"]["content"][0]["text"]
    assert out["stopReason"] in ("end_turn", "max_tokens") and out["usage"]["inputTokens"] > 0
    streamed = client.converse_stream(modelId=MODEL, messages=user("Hi"), inferenceConfig={"maxTokens": 8})
    events = list(streamed["stream"])
    assert "messageStart" in events[0] and "metadata" in events[-1]
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0


def test_what_the_local_model_cannot_take_is_a_validation_exception_naming_it(url: str) -> None:
    client = bedrock_client(url)
    image = {"image": {"format": "png", "source": {"bytes": b"\x89PNG not really"}}}
    with pytest.raises(client.exceptions.ValidationException, match="image"):
        client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "What is this?"}, image]}])


def test_boto3_forced_tool_choice_input_validates(url: str) -> None:
    client = bedrock_client(url)
    spec = {"name": "forecast", "description": "Weather forecast", "inputSchema": {"json": SCHEMA}}
    out = client.converse(
        modelId=MODEL,
        messages=user("Weather in Lima for 3 days?"),
        inferenceConfig={"maxTokens": 60},
        toolConfig={"tools": [{"toolSpec": spec}], "toolChoice": {"tool": {"name": "forecast"}}},
    )
    assert out["stopReason"] == "tool_use"
    use = next(b["toolUse"] for b in out["output"]["message"]["content"] if "toolUse" in b)
    assert use["name"] == "forecast"
    jsonschema.validate(use["input"], SCHEMA)


def test_boto3_count_tokens_and_invoke(url: str) -> None:
    client = bedrock_client(url)
    counted = client.count_tokens(modelId=MODEL, input={"converse": {"messages": user("Hello there")}})
    assert counted["inputTokens"] > 0
    by_body = client.count_tokens(modelId=MODEL, input={"invokeModel": {"body": json.dumps(ANTHROPIC_BODY)}})
    assert by_body["inputTokens"] > 0
    message = json.loads(client.invoke_model(modelId=MODEL, body=json.dumps(ANTHROPIC_BODY))["body"].read())
    assert message["content"][0]["text"] and message["usage"]["output_tokens"] > 0
    streamed = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(ANTHROPIC_BODY))
    events = [json.loads(e["chunk"]["bytes"]) for e in streamed["body"]]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"


def test_anthropic_bedrock_create_and_stream(url: str) -> None:
    client = anthropic.AnthropicBedrock(
        base_url=url, aws_access_key=ACCESS, aws_secret_key=SECRET, aws_region="us-east-1", max_retries=0
    )
    message = client.messages.create(model=MODEL, max_tokens=12, messages=[{"role": "user", "content": "Hi"}])
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.output_tokens > 0
    with client.messages.stream(model=MODEL, max_tokens=12, messages=[{"role": "user", "content": "Hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.stop_reason in ("end_turn", "max_tokens")


@tool
def forecast(city: str, days: int) -> str:
    """Weather forecast for a city over some days."""
    return f"{city}: sunny for {days} days"


def test_langchain_chat_bedrock_converse(url: str) -> None:
    chat = ChatBedrockConverse(model=MODEL, client=bedrock_client(url), max_tokens=16)
    answer = chat.invoke("Say hello.")
    assert isinstance(answer.content, str) and answer.content
    assert answer.usage_metadata is not None and answer.usage_metadata["input_tokens"] > 0
    pieces = list(chat.stream("Say hello."))
    assert len(pieces) > 1 and "".join(p.text for p in pieces)
    # Greedy: at the default temperature the small model's forced-call arguments are sometimes junk that runs past
    # max_tokens before the JSON closes (one CI run in several), and this checks the wiring, not sampling.
    calling = ChatBedrockConverse(model=MODEL, client=bedrock_client(url), max_tokens=60, temperature=0).bind_tools(
        [forecast], tool_choice="forecast"
    )
    called = calling.invoke("Weather in Lima for 3 days?")
    assert called.tool_calls and called.tool_calls[0]["name"] == "forecast"
    assert set(called.tool_calls[0]["args"]) == {"city", "days"}
