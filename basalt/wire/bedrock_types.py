"""The Converse request as Bedrock's service model defines it, validated, and its canonical form.

Every member a client may send is named (anything else is a ValidationException naming it, as Bedrock answers);
blobs arrive base64-encoded, as botocore's rest-json serializer writes them. A content block is a union: exactly one
member is set. What has no canonical form (S3 locations, video, audio, guard content, prompt variables, ...) is
refused by name here; what a model cannot take (an image on a text model) is refused later by its provider.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from ..canonical import MessagesRequest, parse_messages_request
from ..canonical.bounds import Probability, TokenCount, TopK
from ..canonical.types import invalid
from ..errors import InvalidRequest

DEFAULT_MAX_TOKENS = 4096  # Converse's maxTokens is optional (the model's maximum); the canonical form needs one
_TEXT_DOCUMENTS = ("txt", "md", "csv", "html")
Name = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]
ToolUseId = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_.:-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CachePoint(_Strict):
    type: Literal["default"]
    ttl: Literal["5m", "1h"] | None = None


class ImageSource(_Strict):
    bytes_: StrictStr | None = Field(None, alias="bytes")
    s3Location: dict[str, Any] | None = None


class Image(_Strict):
    format: Literal["png", "jpeg", "gif", "webp"]
    source: ImageSource


class DocumentSource(_Strict):
    bytes_: StrictStr | None = Field(None, alias="bytes")
    text: StrictStr | None = None
    s3Location: dict[str, Any] | None = None
    content: list[dict[str, Any]] | None = None


class Document(_Strict):
    format: Literal["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"] | None = None
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    source: DocumentSource
    context: StrictStr | None = None
    citations: dict[str, Any] | None = None


class ToolUse(_Strict):
    toolUseId: ToolUseId
    name: Name
    input: Any
    type: StrictStr | None = None


class ToolResultItem(_Strict):
    json_: Any = Field(None, alias="json")
    text: StrictStr | None = None
    image: Image | None = None
    document: Document | None = None
    video: dict[str, Any] | None = None
    searchResult: dict[str, Any] | None = None


class ToolResult(_Strict):
    toolUseId: ToolUseId
    content: list[ToolResultItem]
    status: Literal["success", "error"] | None = None
    type: StrictStr | None = None


class ReasoningText(_Strict):
    text: StrictStr
    signature: StrictStr | None = None


class Reasoning(_Strict):
    reasoningText: ReasoningText | None = None
    redactedContent: StrictStr | None = None


class Block(_Strict):
    text: StrictStr | None = None
    image: Image | None = None
    document: Document | None = None
    video: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    toolUse: ToolUse | None = None
    toolResult: ToolResult | None = None
    guardContent: dict[str, Any] | None = None
    cachePoint: CachePoint | None = None
    reasoningContent: Reasoning | None = None
    citationsContent: dict[str, Any] | None = None
    searchResult: dict[str, Any] | None = None


class SystemBlock(_Strict):
    text: Annotated[StrictStr, Field(min_length=1)] | None = None
    guardContent: dict[str, Any] | None = None
    cachePoint: CachePoint | None = None


class Message(_Strict):
    role: Literal["user", "assistant"]
    content: list[Block]


class InferenceConfig(_Strict):
    maxTokens: TokenCount | None = None
    temperature: Probability | None = None
    topP: Probability | None = None
    stopSequences: Annotated[list[Annotated[StrictStr, Field(min_length=1)]], Field(max_length=2500)] | None = None


class InputSchema(_Strict):
    json_: dict[str, Any] = Field(alias="json")


class ToolSpec(_Strict):
    name: Name
    description: Annotated[StrictStr, Field(min_length=1)] | None = None
    inputSchema: InputSchema
    strict: bool | None = None


class Tool(_Strict):
    toolSpec: ToolSpec | None = None
    systemTool: dict[str, Any] | None = None
    cachePoint: CachePoint | None = None


class SpecificTool(_Strict):
    name: Name


class Empty(_Strict):
    pass


class ToolChoice(_Strict):
    auto: Empty | None = None
    any: Empty | None = None
    tool: SpecificTool | None = None


class ToolConfig(_Strict):
    tools: Annotated[list[Tool], Field(min_length=1)]
    toolChoice: ToolChoice | None = None


class GuardrailConfig(_Strict):
    guardrailIdentifier: Annotated[StrictStr, Field(max_length=2048)]
    guardrailVersion: Annotated[StrictStr, Field(max_length=20)]
    trace: Literal["enabled", "disabled", "enabled_full"] | None = None
    streamProcessingMode: Literal["sync", "async"] | None = None


class JsonSchema(_Strict):
    schema_: StrictStr = Field(alias="schema")
    name: StrictStr | None = None
    description: StrictStr | None = None


class FormatStructure(_Strict):
    jsonSchema: JsonSchema


class TextFormat(_Strict):
    type: Literal["json_schema"]
    structure: FormatStructure


class OutputConfig(_Strict):
    textFormat: TextFormat | None = None


class ConverseBody(_Strict):
    """A Converse or ConverseStream body (the model id is in the path); CountTokens' `converse` input is a part."""

    messages: list[Message] = Field(default_factory=list)
    system: list[SystemBlock] | None = None
    inferenceConfig: InferenceConfig | None = None
    toolConfig: ToolConfig | None = None
    guardrailConfig: GuardrailConfig | None = None
    additionalModelRequestFields: dict[str, Any] | None = None
    promptVariables: dict[str, Any] | None = None
    additionalModelResponseFieldPaths: list[StrictStr] | None = None
    requestMetadata: Annotated[dict[StrictStr, StrictStr], Field(max_length=16)] | None = None  # for logs; unused
    performanceConfig: dict[Literal["latency"], Literal["standard", "optimized"]] | None = None  # a hint; unused
    serviceTier: dict[Literal["type"], StrictStr] | None = None  # a hint; unused
    outputConfig: OutputConfig | None = None

    @classmethod
    def parse(cls, raw: bytes | dict[str, Any]) -> ConverseBody:
        try:
            return cls.model_validate(raw) if isinstance(raw, dict) else cls.model_validate_json(raw)
        except ValidationError as exc:
            raise invalid(exc, "The request body is not valid JSON") from None

    def canonical(self, model: str, stream: bool) -> MessagesRequest:
        """The canonical request for `model` (a catalog name)."""
        for name in ("promptVariables", "additionalModelResponseFieldPaths"):
            if getattr(self, name):
                raise InvalidRequest(f"{name} is not supported by Basalt", param=name)
        config = self.inferenceConfig or InferenceConfig()
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": config.maxTokens or DEFAULT_MAX_TOKENS,
            "messages": [_message(m, i) for i, m in enumerate(self.messages)],
            "stream": stream,
        }
        if self.system:
            body["system"] = _system(self.system)
        for ours, theirs in (("temperature", config.temperature), ("top_p", config.topP)):
            if theirs is not None:
                body[ours] = theirs
        if config.stopSequences:
            body["stop_sequences"] = config.stopSequences
        if self.toolConfig is not None:
            body.update(_tools(self.toolConfig))
        if self.outputConfig is not None and self.outputConfig.textFormat is not None:
            body["output_config"] = {"format": _output_format(self.outputConfig.textFormat)}
        betas = _additional(self.additionalModelRequestFields or {}, body)
        return parse_messages_request(body).with_betas(betas)


def _one(union: BaseModel, where: str) -> tuple[str, Any]:
    """The one member set in a union shape."""
    members = [(name, value) for name, value in union if value is not None]
    if len(members) != 1:
        raise InvalidRequest(f"{where}: exactly one member must be set, got {len(members)}", param=where)
    field = type(union).model_fields[members[0][0]]
    return field.alias or members[0][0], members[0][1]


def _refused(kind: str, where: str) -> InvalidRequest:
    return InvalidRequest(f"{where}: {kind} content is not supported by Basalt", param=where)


def _message(message: Message, i: int) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    for j, block in enumerate(message.content):
        where = f"messages.{i}.content.{j}"
        kind, value = _one(block, where)
        if kind == "cachePoint":
            if not blocks:
                raise InvalidRequest(f"{where}: a cachePoint must follow a content block", param=where)
            blocks[-1]["cache_control"] = _cache_control(value)
            continue
        blocks.append(_block(kind, value, where))
    return {"role": message.role, "content": blocks}


def _cache_control(point: CachePoint) -> dict[str, Any]:
    return {"type": "ephemeral", **({"ttl": point.ttl} if point.ttl else {})}


def _block(kind: str, value: Any, where: str) -> dict[str, Any]:
    if kind == "text":
        return {"type": "text", "text": value}
    if kind == "image":
        return _image(value, where)
    if kind == "document":
        return _document(value, where)
    if kind == "toolUse":
        if not isinstance(value.input, dict):
            raise InvalidRequest(f"{where}.toolUse.input: must be a JSON object", param=f"{where}.toolUse.input")
        return {"type": "tool_use", "id": value.toolUseId, "name": value.name, "input": value.input}
    if kind == "toolResult":
        content = [_result_item(item, f"{where}.toolResult.content.{k}") for k, item in enumerate(value.content)]
        block = {"type": "tool_result", "tool_use_id": value.toolUseId, "content": content}
        return block | ({"is_error": True} if value.status == "error" else {})
    if kind == "reasoningContent":
        reasoning_kind, reasoning = _one(value, f"{where}.reasoningContent")
        if reasoning_kind == "redactedContent":
            return {"type": "redacted_thinking", "data": reasoning}
        return {"type": "thinking", "thinking": reasoning.text, "signature": reasoning.signature or ""}
    raise _refused(kind, where)


def decoded_blob(value: str, where: str) -> bytes:
    """A Bedrock blob's bytes (base64 in JSON bodies), or a ValidationException naming the field."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{where}: not valid base64", param=where) from None


def _blob(value: str | None, where: str) -> str:
    """A base64 blob, checked (the canonical form carries images and PDFs base64-encoded too)."""
    if value is None:
        raise InvalidRequest(f"{where}: only inline bytes are supported (no s3Location)", param=where)
    decoded_blob(value, where)
    return value


def _image(image: Image, where: str) -> dict[str, Any]:
    data = _blob(image.source.bytes_, f"{where}.image.source.bytes")
    return {"type": "image", "source": {"type": "base64", "media_type": f"image/{image.format}", "data": data}}


def _document(document: Document, where: str) -> dict[str, Any]:
    source, field = document.source, f"{where}.document"
    if source.text is not None:
        return {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": source.text}}
    fmt = document.format or "txt"
    if fmt == "pdf":
        data = _blob(source.bytes_, f"{field}.source.bytes")
        return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": data}}
    if fmt not in _TEXT_DOCUMENTS:
        raise InvalidRequest(f"{field}.format: {fmt} documents are not supported by Basalt", param=f"{field}.format")
    try:
        text = decoded_blob(_blob(source.bytes_, f"{field}.source.bytes"), field).decode()
    except UnicodeDecodeError:
        raise InvalidRequest(f"{field}.source.bytes: a {fmt} document must be UTF-8", param=field) from None
    return {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}


def _result_item(item: ToolResultItem, where: str) -> dict[str, Any]:
    kind, value = _one(item, where)
    if kind == "text":
        return {"type": "text", "text": value}
    if kind == "json":
        return {"type": "text", "text": orjson.dumps(value).decode()}
    if kind == "image":
        return _image(value, where)
    if kind == "document":
        return _document(value, where)
    raise _refused(kind, where)


def _system(blocks: list[SystemBlock]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        where = f"system.{i}"
        kind, value = _one(block, where)
        if kind == "text":
            out.append({"type": "text", "text": value})
        elif kind == "cachePoint" and out:
            out[-1]["cache_control"] = _cache_control(value)
        else:
            raise _refused(kind, where)
    return out


def _tools(config: ToolConfig) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(config.tools):
        where = f"toolConfig.tools.{i}"
        kind, value = _one(tool, where)
        if kind == "cachePoint" and tools:
            tools[-1]["cache_control"] = _cache_control(value)
            continue
        if kind != "toolSpec":
            raise InvalidRequest(f"{where}: {kind} tools are not supported by Basalt", param=where)
        spec: dict[str, Any] = {"name": value.name, "input_schema": value.inputSchema.json_}
        if value.description:
            spec["description"] = value.description
        tools.append(spec)
    out: dict[str, Any] = {"tools": tools}
    if config.toolChoice is not None:
        kind, value = _one(config.toolChoice, "toolConfig.toolChoice")
        out["tool_choice"] = {"type": "tool", "name": value.name} if kind == "tool" else {"type": kind}
    return out


def _output_format(fmt: TextFormat) -> dict[str, Any]:
    where = "outputConfig.textFormat.structure.jsonSchema.schema"
    try:
        schema = orjson.loads(fmt.structure.jsonSchema.schema_)
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"{where}: not valid JSON", param=where) from None
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{where}: must be a JSON object", param=where)
    return {"type": "json_schema", "schema": schema}


class _Additional(BaseModel):
    """The additionalModelRequestFields Basalt can carry: Anthropic's own names, as Bedrock passes them on."""

    model_config = ConfigDict(extra="forbid")
    top_k: TopK | None = None
    thinking: dict[str, Any] | None = None
    anthropic_beta: list[StrictStr] | None = None


def _additional(fields: dict[str, Any], body: dict[str, Any]) -> tuple[str, ...]:
    """Moves the known additional fields into the canonical body; returns the betas. Others: a ValidationException
    naming them, since silently dropping a field changes what the model does."""
    try:
        extra = _Additional.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "additionalModelRequestFields." + ".".join(str(p) for p in first["loc"])
        message = "not supported by Basalt" if first["type"] == "extra_forbidden" else first["msg"]
        raise InvalidRequest(f"{where}: {message}", param=where) from None
    if extra.top_k is not None:
        body["top_k"] = extra.top_k
    if extra.thinking is not None:
        body["thinking"] = extra.thinking
    return tuple(extra.anthropic_beta or ())
