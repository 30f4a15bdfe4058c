"""Chat Completions requests: the validated request models, and the canonical Messages request mapped both ways.

`decode_request` is what the OpenAI dialect does with a caller's request; `encode_request` is what the Chat
Completions provider sends upstream. Each mapping (images, tool calls, tools, tool choice, response format) has its
two directions side by side, so they cannot drift apart; tests/wire/test_chat_round_trip.py holds them to being
inverses. Anything Chat Completions cannot express (documents, thinking, server tools, top_k) is refused with a 400
when encoding, rather than dropped.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from ..canonical import MessagesRequest, parse_messages_request
from ..canonical.bounds import Penalty, Probability, Seed, Temperature, TokenCount
from ..canonical.types import ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock, invalid
from ..errors import InvalidRequest

DEFAULT_MAX_TOKENS = 8192
# canonical tool_choice type -> Chat Completions tool_choice, and back (a named tool is an object, not in the table)
TOOL_CHOICES = {"auto": "auto", "none": "none", "any": "required"}
_CHOICE_TYPES = {chat: canonical for canonical, chat in TOOL_CHOICES.items()}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Strict):
    name: StrictStr
    arguments: StrictStr


class ToolCall(_Strict):
    id: StrictStr
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
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


# Requests, as a whole.


def decode_request(req: ChatCompletionRequest) -> MessagesRequest:
    """A caller's Chat Completions request as the canonical request."""
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
    if req.logprobs:
        body["logprobs"] = req.top_logprobs or 0
    if req.stop is not None:
        body["stop_sequences"] = [req.stop] if isinstance(req.stop, str) else req.stop
    if req.user:
        body["metadata"] = {"user_id": req.user}
    _decode_tools(req, body)
    _decode_format(req, body)
    return parse_messages_request(body)


def encode_request(request: MessagesRequest, upstream_model: str) -> dict[str, Any]:
    """The canonical request as a Chat Completions request body for `upstream_model`. Unknown fields are the
    provider's to refuse first (providers.base.refuse_unknown_fields), as for every translating provider."""
    if request.thinking is not None and request.thinking.type != "disabled":
        raise InvalidRequest("thinking cannot be expressed in the Chat Completions API")
    messages: list[dict[str, Any]] = []
    if request.system_text():
        messages.append({"role": "system", "content": request.system_text()})
    for message in request.messages:
        messages.extend(_encode_message(message.role, message.content))
    body: dict[str, Any] = {
        "model": upstream_model,
        "messages": messages,
        "max_completion_tokens": request.max_tokens,
        "stream": bool(request.stream),
    }
    if request.stream:
        body["stream_options"] = {"include_usage": True}
    for key in ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.top_k is not None:
        raise InvalidRequest("top_k cannot be expressed in the Chat Completions API")
    if request.stop_sequences:
        body["stop"] = request.stop_sequences
    if request.ignore_eos:
        body["ignore_eos"] = True
    if request.logprobs is not None:  # an OpenAI-compatible upstream reports them as Basalt does
        body["logprobs"] = True
        if request.logprobs:
            body["top_logprobs"] = request.logprobs
    _encode_tools(request, body)
    _encode_format(request, body)
    return body


def _refuse_unsupported(req: ChatCompletionRequest) -> None:
    if req.n not in (None, 1):
        raise InvalidRequest("n: only n=1 is supported; send separate requests for several choices", param="n")
    if req.top_logprobs is not None and not req.logprobs:
        raise InvalidRequest("top_logprobs: logprobs must be true when top_logprobs is set", param="top_logprobs")
    if req.logit_bias:
        raise InvalidRequest("logit_bias is not supported by this server", param="logit_bias")


# Messages: chat messages -> canonical turns, then canonical turns -> chat messages.


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
            url = str((part.get("image_url") or {}).get("url", ""))
            blocks.append({"type": "image", "source": decode_image(url, f"messages.{i}.content.{j}.image_url.url")})
        else:
            raise InvalidRequest(f"messages.{i}.content.{j}.type: content parts of type {kind!r} are not supported")
    return blocks


def _assistant_blocks(m: ChatMessage, i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _plain_text(m.content, f"messages.{i}.content")
    if text:
        blocks.append({"type": "text", "text": text})
    blocks += [decode_tool_call(call, f"messages.{i}.tool_calls") for call in m.tool_calls or []]
    return blocks


def _encode_message(role: str, blocks: str | list[Any]) -> list[dict[str, Any]]:
    if isinstance(blocks, str):  # most turns: plain text, passed on as it is (building a block for it costs)
        return [{"role": role, "content": (blocks or None) if role == "assistant" else blocks}]
    if role == "system":
        return [{"role": "system", "content": "\n\n".join(b.text for b in blocks if isinstance(b, TextBlock))}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock) and role == "user":
            parts.append({"type": "image_url", "image_url": {"url": encode_image(block.source)}})
        elif isinstance(block, ToolUseBlock):
            calls.append(tool_call(block.id, block.name, json.dumps(block.input)))
        elif isinstance(block, ToolResultBlock):
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": _tool_text(block)})
        elif block.type in ("thinking", "redacted_thinking"):
            continue  # earlier reasoning is not replayed to another provider
        else:
            raise InvalidRequest(f"{block.type} content cannot be expressed in the Chat Completions API")
    if role == "assistant":
        message: dict[str, Any] = {"role": "assistant", "content": "".join(p["text"] for p in parts) or None}
        if calls:
            message["tool_calls"] = calls
        return [*out, message]
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts) if only_text else parts})
    return out


def _tool_text(block: ToolResultBlock) -> str:
    if block.content is None or isinstance(block.content, str):
        return block.content or ""
    texts = []
    for item in block.content:
        if item.get("type") != "text":
            raise InvalidRequest("only text tool results can be expressed in the Chat Completions API")
        texts.append(str(item.get("text", "")))
    return "\n".join(texts)


# Images: a data: URL is a base64 source, an http(s) URL a url source.


def decode_image(url: str, where: str) -> dict[str, Any]:
    """An image_url part's URL as a canonical image source; `where` names the field in the error."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0]
        return {"type": "base64", "media_type": media_type, "data": data}
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise InvalidRequest(f"{where}: expected a data: or https: URL")


def encode_image(source: dict[str, Any]) -> str:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if source.get("type") == "url":
        return str(source.get("url"))
    raise InvalidRequest(f"image source {source.get('type')!r} cannot be expressed in the Chat Completions API")


# Tool calls: an assistant's function call is a tool_use block whose input is the parsed arguments.


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A tool_calls entry; `arguments` is the input as JSON text, serialized by the caller (a request body and an
    answer have always used different serializers, and changing either would change bytes callers see)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def decode_tool_call(call: ToolCall, where: str) -> dict[str, Any]:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except ValueError:
        raise InvalidRequest(f"{where}: arguments of {call.id} are not valid JSON") from None
    return {"type": "tool_use", "id": call.id, "name": call.function.name, "input": arguments}


# Tools, tool choice and the response format.


def _decode_tools(req: ChatCompletionRequest, body: dict[str, Any]) -> None:
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
    elif choice == "none":
        body["tool_choice"] = {"type": "none"}  # no tool calls at all: "parallel" means nothing
    else:
        body["tool_choice"] = {"type": _CHOICE_TYPES[choice], **parallel}


def _encode_tools(request: MessagesRequest, body: dict[str, Any]) -> None:
    tools = request.tools or []
    for tool in tools:
        if not tool.is_client_tool:
            raise InvalidRequest(f"server tool {tool.name!r} cannot run through a Chat Completions upstream")
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    **({"description": t.description} if t.description else {}),
                    "parameters": t.input_schema,
                },
            }
            for t in tools
        ]
    choice = request.tool_choice
    if choice is None:
        return
    if choice.type == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
    else:
        body["tool_choice"] = TOOL_CHOICES[choice.type]
    if choice.disable_parallel_tool_use and tools:
        body["parallel_tool_calls"] = False


def _decode_format(req: ChatCompletionRequest, body: dict[str, Any]) -> None:
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


def _encode_format(request: MessagesRequest, body: dict[str, Any]) -> None:
    fmt = request.output_config.format if request.output_config else None
    if fmt is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt.json_schema}}
