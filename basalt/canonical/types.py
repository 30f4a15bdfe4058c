"""Typed, validated Messages requests. Blocks keep fields they do not name, so a pass-through provider loses nothing."""

from __future__ import annotations

import os
import string
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from ..errors import InvalidRequest

_ALPHABET = string.ascii_letters + string.digits


_ID_TABLE = bytes(ord(_ALPHABET[b % 62]) for b in range(256))


def _random_id(prefix: str, n: int = 24) -> str:
    # One urandom read mapped onto the alphabet by a byte table: a per-character choice was a visible cost per request.
    # 256 % 62 leaves a slight bias towards the first letters, harmless for ids that only need to be unique.
    return prefix + os.urandom(n).translate(_ID_TABLE).decode("ascii")


def new_message_id() -> str:
    return _random_id("msg_")


def new_tool_use_id() -> str:
    return _random_id("toolu_")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CacheControl(_Open):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class TextBlock(_Open):
    type: Literal["text"]
    text: StrictStr
    cache_control: CacheControl | None = None


class ImageBlock(_Open):
    type: Literal["image"]
    source: dict[str, Any]
    cache_control: CacheControl | None = None


class DocumentBlock(_Open):
    type: Literal["document"]
    source: dict[str, Any]
    cache_control: CacheControl | None = None


class ToolUseBlock(_Open):
    type: Literal["tool_use"]
    id: StrictStr
    name: StrictStr
    input: dict[str, Any]
    cache_control: CacheControl | None = None


class ToolResultBlock(_Open):
    type: Literal["tool_result"]
    tool_use_id: StrictStr
    content: StrictStr | list[dict[str, Any]] | None = None
    is_error: StrictBool | None = None
    cache_control: CacheControl | None = None


class ThinkingBlock(_Open):
    type: Literal["thinking"]
    thinking: StrictStr
    signature: StrictStr


class RedactedThinkingBlock(_Open):
    type: Literal["redacted_thinking"]
    data: StrictStr


class ServerBlock(_Open):
    """Blocks of server tools (web search, code execution, MCP, ...), passed through to providers that run them."""

    type: Literal[
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "search_result",
    ]


ContentBlock = Annotated[
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ServerBlock,
    Field(discriminator="type"),
]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "system"]  # "system" mid-conversation is a recent addition
    content: StrictStr | list[ContentBlock]

    def blocks(self) -> list[Any]:
        if isinstance(self.content, str):
            return [TextBlock(type="text", text=self.content)]
        return list(self.content)


class Tool(_Open):
    type: StrictStr | None = None  # None or "custom" for client tools; a dated type for server tools
    name: StrictStr
    description: StrictStr | None = None
    input_schema: dict[str, Any] | None = None
    cache_control: CacheControl | None = None

    @property
    def is_client_tool(self) -> bool:
        return self.type in (None, "custom")

    @model_validator(mode="after")
    def _client_tools_have_a_schema(self) -> Tool:
        if self.is_client_tool and self.input_schema is None:
            raise ValueError(f"tool {self.name!r} needs an input_schema")
        return self


class ToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["auto", "any", "tool", "none"]
    name: StrictStr | None = None
    disable_parallel_tool_use: StrictBool | None = None

    @model_validator(mode="after")
    def _tool_needs_a_name(self) -> ToolChoice:
        if self.type == "tool" and not self.name:
            raise ValueError("tool_choice of type 'tool' needs the tool's name")
        return self


class Thinking(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: StrictInt | None = None


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effort: Literal["low", "medium", "high", "max"] | None = None
    format: OutputFormat | None = None


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: StrictStr | None = None


class MessagesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: StrictStr
    max_tokens: StrictInt = Field(ge=1)
    messages: list[Message]
    system: StrictStr | list[TextBlock] | None = None
    stop_sequences: list[StrictStr] | None = None
    stream: StrictBool = False
    # Up to 2 so OpenAI requests fit; the Anthropic dialect holds its callers to its own 0..1.
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: StrictInt | None = Field(default=None, ge=0)
    metadata: Metadata | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    cache_control: CacheControl | None = None
    container: Any = None
    inference_geo: StrictStr | None = None
    mcp_servers: list[dict[str, Any]] | None = None
    context_management: dict[str, Any] | None = None
    diagnostics: dict[str, Any] | None = None
    speed: Literal["standard", "fast"] | None = None
    # Basalt extensions, not in the Anthropic dialect: OpenAI's `seed` for repeatable local sampling, and
    # llama-server's `ignore_eos` so a benchmark can generate exactly max_tokens tokens.
    seed: StrictInt | None = None
    ignore_eos: StrictBool = False
    # OpenAI's repetition penalties, carried for the dialects and upstreams that have them (-2 to 2, 0 is off).
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    # The client's anthropic-beta header values, forwarded to an Anthropic upstream.
    _betas: tuple[str, ...] = PrivateAttr(default=())

    @property
    def betas(self) -> tuple[str, ...]:
        return self._betas

    def with_betas(self, betas: tuple[str, ...]) -> MessagesRequest:
        self._betas = betas
        return self

    def system_text(self) -> str:
        if self.system is None:
            return ""
        if isinstance(self.system, str):
            return self.system
        return "\n\n".join(block.text for block in self.system)


def _describe(error: ValidationError) -> str:
    parts = []
    for e in error.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        parts.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    return "; ".join(parts)


def parse_messages_request(body: bytes | dict[str, Any]) -> MessagesRequest:
    """Validate a request body, raising InvalidRequest with a message that names each bad field."""
    try:
        if isinstance(body, dict):
            return MessagesRequest.model_validate(body)
        return MessagesRequest.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise InvalidRequest(f"There was an error parsing the body of your request: {_describe(exc)}") from None
        raise InvalidRequest(_describe(exc)) from None
