"""Typed, validated Messages requests. Blocks keep fields they do not name, so a pass-through provider loses nothing."""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)

from ..errors import InvalidRequest
from .bounds import Penalty, Probability, Seed, Temperature, TokenCount, TokenId, TopK, TopLogprobs

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
    ttl: StrictStr | None = None  # "5m" or "1h" today; no provider reads it, so a newer value passes through


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


class Message(_Open):
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


class ToolChoice(_Open):
    type: Literal["auto", "any", "tool", "none"]
    name: StrictStr | None = None
    disable_parallel_tool_use: StrictBool | None = None

    @model_validator(mode="after")
    def _tool_needs_a_name(self) -> ToolChoice:
        if self.type == "tool" and not self.name:
            raise ValueError("tool_choice of type 'tool' needs the tool's name")
        return self


class Thinking(_Open):
    # "enabled", "disabled", "adaptive" today; every provider but Anthropic's refuses all but "disabled", so a newer
    # type reaches Anthropic and is refused elsewhere.
    type: StrictStr
    budget_tokens: TokenCount | None = None
    display: StrictStr | None = None  # "summarized" or "omitted": Claude Code sends adaptive with display omitted


class OutputFormat(_Open):
    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")


class OutputConfig(_Open):
    effort: StrictStr | None = None  # "low" to "max" today; read by no provider, passed through
    format: OutputFormat | None = None


class Metadata(_Open):
    user_id: StrictStr | None = None


class RawPrompt(BaseModel):
    """A Basalt extension for the legacy Completions API (POST /v1/completions): the prompt is the one user message's
    text, or `tokens`, given to the model as it is, with no chat template."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenId] | None = None  # the prompt as the model's token ids (the user message is then empty)
    echo: StrictBool = False  # the answer starts with the prompt (and its tokens' log-probabilities)
    generate: StrictBool = True  # False: max_tokens 0 was asked, the prompt is only scored


@dataclass(frozen=True)
class Forwarded:
    """What an Anthropic-protocol upstream receives as the client sent it (a pass-through is lossless)."""

    body: bytes | None = None  # the client's JSON body; None when Basalt built or changed the request
    query: str = ""  # the query string, e.g. the TypeScript SDK's `beta=true`
    headers: tuple[tuple[str, str], ...] = ()  # the anthropic-* headers but anthropic-beta (anthropic-version, ...)
    betas: tuple[str, ...] = ()  # the anthropic-beta header values


NOT_FORWARDED = Forwarded()

# The nested parameter objects whose unknown fields a translating provider cannot carry (blocks and tools are
# open by design: providers take the fields they know from them, as before).
_NESTED = ("thinking", "metadata", "tool_choice", "output_config")


class MessagesRequest(_Open):
    """Unknown fields are kept (in `model_extra` of each object) for the Anthropic pass-through; every provider
    that translates refuses them by name (`unknown_fields`), as the strict model used to at decoding."""

    model: StrictStr
    max_tokens: TokenCount
    messages: list[Message]
    system: StrictStr | list[TextBlock] | None = None
    stop_sequences: list[StrictStr] | None = None
    stream: StrictBool = False
    # Up to 2 so OpenAI requests fit; the Anthropic dialect holds its callers to its own 0..1.
    temperature: Temperature | None = None
    top_p: Probability | None = None
    top_k: TopK | None = None
    metadata: Metadata | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    output_config: OutputConfig | None = None
    service_tier: StrictStr | None = None  # like speed: read by no provider, so newer values pass through
    cache_control: CacheControl | None = None
    container: Any = None
    inference_geo: StrictStr | None = None
    mcp_servers: list[dict[str, Any]] | None = None
    context_management: dict[str, Any] | None = None
    diagnostics: dict[str, Any] | None = None
    speed: StrictStr | None = None
    # Basalt extensions, not in the Anthropic dialect: OpenAI's `seed` for repeatable local sampling, and
    # llama-server's `ignore_eos` so a benchmark can generate exactly max_tokens tokens.
    seed: Seed | None = None
    ignore_eos: StrictBool = False
    # OpenAI's repetition penalties, carried for the dialects and upstreams that have them (-2 to 2, 0 is off).
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    # OpenAI's log-probabilities: each generated token's own and this many most likely alternatives (None: none
    # reported), and the legacy Completions API's raw prompt. Providers that cannot give them refuse them by name.
    logprobs: TopLogprobs | None = None
    raw_prompt: RawPrompt | None = None
    # None for "nothing forwarded": pydantic deep-copies a private default per request, which doubled parsing time.
    _forwarded: Forwarded | None = PrivateAttr(default=None)

    @property
    def forwarded(self) -> Forwarded:
        return self._forwarded or NOT_FORWARDED

    def forward(self, forwarded: Forwarded) -> MessagesRequest:
        self._forwarded = forwarded
        return self

    def derived_from(self, original: MessagesRequest) -> MessagesRequest:
        """For a request Basalt rewrote (masked input): the client's headers and query still apply, its body not."""
        self._forwarded = replace(original.forwarded, body=None)
        return self

    @property
    def betas(self) -> tuple[str, ...]:
        return self.forwarded.betas

    def with_betas(self, betas: tuple[str, ...]) -> MessagesRequest:
        self._forwarded = replace(self.forwarded, betas=betas)
        return self

    def unknown_fields(self) -> list[str]:
        """The dotted names of fields this model does not know, top level, nested parameters and messages."""
        found = list(self.model_extra or ())
        for name in _NESTED:
            value = getattr(self, name)
            if value is not None and value.model_extra:
                found += [f"{name}.{key}" for key in value.model_extra]
        fmt = self.output_config.format if self.output_config else None
        if fmt is not None and fmt.model_extra:
            found += [f"output_config.format.{key}" for key in fmt.model_extra]
        for i, message in enumerate(self.messages):
            if message.model_extra:
                found += [f"messages.{i}.{key}" for key in message.model_extra]
        return found

    def system_text(self) -> str:
        if self.system is None:
            return ""
        if isinstance(self.system, str):
            return self.system
        return "\n\n".join(block.text for block in self.system)


def _location(e: Any) -> str:
    return ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def _describe(error: ValidationError) -> str:
    parts = []
    for e in error.errors(include_url=False)[:5]:
        loc = _location(e)
        parts.append(f"{loc}: {e['msg']}" if loc else str(e["msg"]))
    return "; ".join(parts)


def invalid(error: ValidationError, parse_failure: str) -> InvalidRequest:
    """The 400 for a body that failed validation, naming each bad field (the first as `param`)."""
    errors = error.errors(include_url=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return InvalidRequest(f"{parse_failure}: {_describe(error)}")
    return InvalidRequest(_describe(error), param=_location(errors[0]) or None)


def parse_messages_request(body: bytes | dict[str, Any]) -> MessagesRequest:
    """Validate a request body, raising InvalidRequest with a message that names each bad field."""
    try:
        if isinstance(body, dict):
            return MessagesRequest.model_validate(body)
        return MessagesRequest.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc, "There was an error parsing the body of your request") from None
