"""Renders a canonical request into the local model's prompt, and refuses what a small text model cannot serve."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..canonical import MessagesRequest
from ..canonical.types import TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock
from ..errors import InvalidRequest
from .base import refuse_unknown_fields


@dataclass(frozen=True)
class PromptPlan:
    messages: list[dict[str, str]]  # role/content pairs for the chat template
    prefill: str  # a final assistant turn the answer continues
    schema: dict[str, Any] | None  # JSON schema the output must match (structured output or a forced tool call)
    forced_tools: tuple[str, ...]  # tool names when a tool call is forced
    auto_tools: dict[str, Any] | None = None  # with tool_choice auto: the schema of {"name", "arguments"} of a call


def plan_prompt(request: MessagesRequest, model: str) -> PromptPlan:
    refuse_unknown_fields(request, f"the local model {model}")
    _refuse_unsupported(request, model)
    forced = _forced_tools(request)
    schema = _output_schema(request, forced)
    auto = _auto_call_schema(request, forced, schema)
    system = _system_prompt(request, forced, auto is not None)
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    for message in request.messages:
        text = _render_blocks(message.blocks(), model)
        if message.role == "system":  # a mid-conversation instruction: the template knows only one system turn
            if messages and messages[0]["role"] == "system":
                messages[0]["content"] += "\n\n" + text
            else:
                messages.insert(0, {"role": "system", "content": text})
            continue
        if messages and messages[-1]["role"] == message.role:
            messages[-1]["content"] += "\n\n" + text
        else:
            messages.append({"role": message.role, "content": text})
    prefill = ""
    if messages and messages[-1]["role"] == "assistant":
        prefill = messages.pop()["content"]
        if prefill != prefill.rstrip():
            raise InvalidRequest("final assistant content cannot end with trailing whitespace")
        if forced or schema is not None:
            raise InvalidRequest("an assistant prefill cannot be combined with a forced tool call or an output format")
    if not any(m["role"] == "user" for m in messages):
        raise InvalidRequest("messages: at least one user message is required")
    return PromptPlan(messages, prefill, schema, forced, auto)


def _refuse_unsupported(request: MessagesRequest, model: str) -> None:
    if request.thinking is not None and request.thinking.type != "disabled":
        raise InvalidRequest(f"thinking is not supported by model {model}; remove `thinking` or pick another model")
    for tool in request.tools or []:
        if not tool.is_client_tool:
            raise InvalidRequest(
                f"tools: server tool {tool.name!r} ({tool.type}) cannot run on model {model}; "
                "only client tools with an input_schema are supported"
            )
    if request.mcp_servers:
        raise InvalidRequest(f"mcp_servers are not supported by model {model}")
    if request.container is not None:
        raise InvalidRequest(f"container is not supported by model {model}")


def _forced_tools(request: MessagesRequest) -> tuple[str, ...]:
    choice, tools = request.tool_choice, request.tools or []
    names = [t.name for t in tools]
    if choice is None or choice.type in ("auto", "none"):
        return ()
    if not tools:
        raise InvalidRequest(f"tool_choice.type {choice.type!r} needs at least one tool in `tools`")
    if choice.type == "tool":
        if choice.name not in names:
            raise InvalidRequest(f"tool_choice names tool {choice.name!r}, which is not in `tools`")
        return (str(choice.name),)
    return tuple(names)


def _output_schema(request: MessagesRequest, forced: tuple[str, ...]) -> dict[str, Any] | None:
    fmt = request.output_config.format if request.output_config else None
    if forced and fmt is not None:
        raise InvalidRequest("output_config.format cannot be combined with a forced tool call")
    if fmt is not None:
        return fmt.json_schema
    if not forced:
        return None
    schemas = {t.name: t.input_schema or {"type": "object"} for t in request.tools or []}
    if len(forced) == 1:
        return schemas[forced[0]]
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": name}, "input": schemas[name]},
                "required": ["name", "input"],
                "additionalProperties": False,
            }
            for name in forced
        ]
    }


def _auto_call_schema(
    request: MessagesRequest, forced: tuple[str, ...], schema: dict[str, Any] | None
) -> dict[str, Any] | None:
    """With tools and tool_choice auto, the model may answer in text or call one tool; the call is constrained."""
    tools = [t for t in request.tools or [] if t.is_client_tool]
    choice = request.tool_choice.type if request.tool_choice else "auto"
    if not tools or forced or schema is not None or choice != "auto":
        return None
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": t.input_schema or {"type": "object"}},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for t in tools
        ]
    }


def _system_prompt(request: MessagesRequest, forced: tuple[str, ...], auto: bool) -> str:
    parts = [request.system_text()] if request.system_text() else []
    tools = request.tools or []
    if tools and not (request.tool_choice and request.tool_choice.type == "none"):
        described = "\n".join(
            json.dumps({"name": t.name, "description": t.description or "", "input_schema": t.input_schema})
            for t in tools
        )
        parts.append(f"You can call these tools:\n{described}")
    if auto:
        parts.append(
            'To call a tool, answer with only <tool_call>{"name": <tool name>, "arguments": <its input object>}'
            "</tool_call>. Otherwise answer normally."
        )
    if len(forced) == 1:
        parts.append(f"Call the tool {forced[0]} now. Answer with only the JSON object of its input.")
    elif forced:
        parts.append('Call one of the tools now. Answer with only {"name": <tool name>, "input": <its input object>}.')
    fmt = request.output_config.format if request.output_config else None
    if fmt is not None:
        parts.append(f"Answer with only JSON that matches this JSON schema: {json.dumps(fmt.json_schema)}")
    return "\n\n".join(parts)


def _render_blocks(blocks: list[Any], model: str) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            call = json.dumps({"name": block.name, "arguments": block.input})
            parts.append(f"<tool_call>\n{call}\n</tool_call>")
        elif isinstance(block, ToolResultBlock):
            parts.append(f"<tool_response>\n{_tool_result_text(block, model)}\n</tool_response>")
        elif isinstance(block, ThinkingBlock) or block.type == "redacted_thinking":
            continue  # earlier turns' reasoning is not part of the prompt
        else:
            raise InvalidRequest(
                f"{block.type} content is not supported by model {model}, a text-only model; send text instead"
            )
    return "\n\n".join(parts)


def _tool_result_text(block: ToolResultBlock, model: str) -> str:
    content = block.content
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        texts = []
        for item in content:
            if item.get("type") != "text":
                raise InvalidRequest(f"{item.get('type')} content in a tool_result is not supported by model {model}")
            texts.append(str(item.get("text", "")))
        text = "\n".join(texts)
    return f"error: {text}" if block.is_error else text
