"""OpenAI Chat Completions requests, validated, and their translation into the canonical Messages request."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from ..canonical import MessagesRequest, parse_messages_request
from ..canonical.bounds import Penalty, Probability, Seed, Temperature, TokenCount
from ..canonical.types import invalid
from ..errors import InvalidRequest

DEFAULT_MAX_TOKENS = 8192


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Strict):
    name: StrictStr
    arguments: StrictStr


class ToolCall(_Strict):
    id: StrictStr
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["developer", "system", "user", "assistant", "tool"]
    content: StrictStr | list[dict[str, Any]] | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: StrictStr | None = None
    refusal: StrictStr | None = None


class FunctionDef(_Strict):
    name: StrictStr
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class FunctionTool(_Strict):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Strict):
    name: StrictStr


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(_Strict):
    name: StrictStr
    description: StrictStr | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(_Strict):
    include_usage: StrictBool | None = None
    include_obfuscation: StrictBool | None = None


class ChatCompletionRequest(_Strict):
    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: TokenCount | None = None
    max_completion_tokens: TokenCount | None = None
    temperature: Temperature | None = None
    top_p: Probability | None = None
    n: Annotated[StrictInt, Field(ge=1, le=128)] | None = None  # OpenAI's documented range
    stop: StrictStr | list[StrictStr] | None = None
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    seed: Seed | None = None
    user: StrictStr | None = None
    logprobs: StrictBool | None = None
    top_logprobs: Annotated[StrictInt, Field(ge=0, le=20)] | None = None  # OpenAI's documented range
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]] | None = None
    metadata: dict[str, str] | None = None
    store: StrictBool | None = None
    service_tier: StrictStr | None = None
    reasoning_effort: StrictStr | None = None
    safety_identifier: StrictStr | None = None
    prompt_cache_key: StrictStr | None = None
    ignore_eos: StrictBool = False  # a Basalt extension (as in llama-server), for benchmarks


def parse_chat_request(body: bytes) -> ChatCompletionRequest:
    try:
        return ChatCompletionRequest.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc, "We could not parse the JSON body of your request") from None


def to_canonical(req: ChatCompletionRequest) -> MessagesRequest:
    _refuse_unsupported(req)
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for i, m in enumerate(req.messages):
        if m.role in ("system", "developer"):
            system.append(_plain_text(m.content, f"messages.{i}.content"))
        elif m.role == "user":
            messages.append({"role": "user", "content": _user_blocks(m.content, i)})
        elif m.role == "assistant":
            messages.append({"role": "assistant", "content": _assistant_blocks(m, i)})
        else:
            if not m.tool_call_id:
                raise InvalidRequest(f"messages.{i}.tool_call_id: a tool message needs tool_call_id", param="messages")
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": _plain_text(m.content, "")}
            messages.append({"role": "user", "content": [block]})
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": req.max_completion_tokens or req.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
        "stream": bool(req.stream),
        "ignore_eos": req.ignore_eos,
    }
    if system:
        body["system"] = "\n\n".join(system)
    optional = {
        "temperature": req.temperature,
        "top_p": req.top_p,
        "seed": req.seed,
        "frequency_penalty": req.frequency_penalty or None,  # 0 is off: the same as not sending it
        "presence_penalty": req.presence_penalty or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if req.stop is not None:
        body["stop_sequences"] = [req.stop] if isinstance(req.stop, str) else req.stop
    if req.user:
        body["metadata"] = {"user_id": req.user}
    _add_tools(req, body)
    _add_format(req, body)
    return parse_messages_request(body)


def _refuse_unsupported(req: ChatCompletionRequest) -> None:
    if req.n not in (None, 1):
        raise InvalidRequest("n: only n=1 is supported; send separate requests for several choices", param="n")
    if req.logprobs or req.top_logprobs:
        raise InvalidRequest("logprobs are not supported by this server", param="logprobs")
    if req.logit_bias:
        raise InvalidRequest("logit_bias is not supported by this server", param="logit_bias")


def _plain_text(content: str | list[dict[str, Any]] | None, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if part.get("type") != "text":
            raise InvalidRequest(f"{where}: only text parts are allowed here, not {part.get('type')!r}")
        texts.append(str(part.get("text", "")))
    return "\n".join(texts)


def _user_blocks(content: str | list[dict[str, Any]] | None, i: int) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            blocks.append({"type": "image", "source": _image_source(part.get("image_url") or {}, i, j)})
        else:
            raise InvalidRequest(f"messages.{i}.content.{j}.type: content parts of type {kind!r} are not supported")
    return blocks


def _image_source(image: dict[str, Any], i: int, j: int) -> dict[str, Any]:
    url = str(image.get("url", ""))
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
        return {"type": "base64", "media_type": media_type, "data": data}
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise InvalidRequest(f"messages.{i}.content.{j}.image_url.url: expected a data: or https: URL")


def _assistant_blocks(m: ChatMessage, i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _plain_text(m.content, f"messages.{i}.content")
    if text:
        blocks.append({"type": "text", "text": text})
    for call in m.tool_calls or []:
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except ValueError:
            raise InvalidRequest(f"messages.{i}.tool_calls: arguments of {call.id} are not valid JSON") from None
        blocks.append({"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments})
    return blocks


def _add_tools(req: ChatCompletionRequest, body: dict[str, Any]) -> None:
    if req.tools:
        body["tools"] = [
            {
                "name": t.function.name,
                **({"description": t.function.description} if t.function.description else {}),
                "input_schema": t.function.parameters or {"type": "object", "properties": {}},
            }
            for t in req.tools
        ]
    choice = req.tool_choice
    if choice is None:
        return
    parallel = {"disable_parallel_tool_use": True} if req.parallel_tool_calls is False else {}
    if isinstance(choice, NamedToolChoice):
        body["tool_choice"] = {"type": "tool", "name": choice.function.name, **parallel}
    elif choice == "required":
        body["tool_choice"] = {"type": "any", **parallel}
    elif choice == "none":
        body["tool_choice"] = {"type": "none"}
    else:
        body["tool_choice"] = {"type": "auto", **parallel}


def _add_format(req: ChatCompletionRequest, body: dict[str, Any]) -> None:
    fmt = req.response_format
    if fmt is None or fmt.type == "text":
        return
    if fmt.type == "json_object":
        schema: dict[str, Any] = {"type": "object"}
    else:
        if fmt.json_schema is None:
            raise InvalidRequest("response_format.json_schema is required when type is json_schema")
        schema = fmt.json_schema.json_schema or {"type": "object"}
    body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
