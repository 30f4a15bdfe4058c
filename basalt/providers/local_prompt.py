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
    # With several tools to choose from (a call forced among them, or tool_choice auto): each tool's name and input
    # schema; the call is {"name": ..., "input": ...} (forced) or <tool_call>{"name": ..., "arguments": ...} (auto).
    tool_schemas: tuple[tuple[str, dict[str, Any]], ...] = ()
    auto_tools: bool = False
    schema_source: str = ""  # whose `schema` is, for errors: "of the output format", "of tool 'x'"


@dataclass(frozen=True)
class PromptSize:
    """What a glance at a request shows of its prompt, before any rendering: lower bounds, cheap to take."""

    chars: int  # characters of message and system text, all of which the prompt contains
    turns: int  # turns of the conversation once consecutive messages of one role are merged


def prompt_size(request: MessagesRequest) -> PromptSize:
    chars, turns, last = len(request.system_text()), 0, ""
    for message in request.messages:
        if message.role != "system" and message.role != last:
            turns, last = turns + 1, message.role
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        else:
            chars += sum(len(block.text) for block in content if isinstance(block, TextBlock))
    return PromptSize(chars, turns)


def plan_prompt(request: MessagesRequest, model: str) -> PromptPlan:
    refuse_unknown_fields(request, f"the local model {model}")
    _refuse_unsupported(request, model)
    forced = _forced_tools(request)
    schema, source = _output_schema(request, forced)
    choices = _tool_choices(request, forced, schema)
    auto = bool(choices) and not forced
    system = _system_prompt(request, forced, auto)
    # Turns are collected as lists of parts and joined once: appending to a string per message was quadratic in
    # a run of same-role messages (40,000 of them took 19 s).
    turns: list[tuple[str, list[str]]] = [("system", [system])] if system else []
    for message in request.messages:
        text = _render_blocks(message.blocks(), model)
        if message.role == "system":  # a mid-conversation instruction: the template knows only one system turn
            if turns and turns[0][0] == "system":
                turns[0][1].append(text)
            else:
                turns.insert(0, ("system", [text]))
        elif turns and turns[-1][0] == message.role:
            turns[-1][1].append(text)
        else:
            turns.append((message.role, [text]))
    messages = [{"role": role, "content": "\n\n".join(parts)} for role, parts in turns]
    prefill = ""
    if messages and messages[-1]["role"] == "assistant":
        prefill = messages.pop()["content"]
        if prefill != prefill.rstrip():
            raise InvalidRequest("final assistant content cannot end with trailing whitespace")
        if forced or schema is not None:
            raise InvalidRequest("an assistant prefill cannot be combined with a forced tool call or an output format")
    if not any(m["role"] == "user" for m in messages):
        raise InvalidRequest("messages: at least one user message is required")
    return PromptPlan(messages, prefill, schema, forced, choices, auto, source)


def refuse_thinking(request: MessagesRequest, model: str) -> None:
    """Extended thinking with a token budget asks for thinking blocks, which this model cannot write. Adaptive
    thinking leaves it to the model whether to think at all, so a model without thinking answers it, as asked,
    without thinking blocks (and `display` has nothing to show). Checked after the prompt's length, the more useful
    answer when both apply."""
    if request.thinking is not None and request.thinking.type not in ("adaptive", "disabled"):
        raise InvalidRequest(
            f"thinking type {request.thinking.type!r} is not supported by model {model}; remove `thinking`, use "
            "type adaptive, or pick another model",
            param="thinking.type",
        )


def _refuse_unsupported(request: MessagesRequest, model: str) -> None:
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


def _output_schema(request: MessagesRequest, forced: tuple[str, ...]) -> tuple[dict[str, Any] | None, str]:
    """The one schema the whole answer must match, and whose it is: the output format, or a lone forced tool's."""
    fmt = request.output_config.format if request.output_config else None
    if forced and fmt is not None:
        raise InvalidRequest("output_config.format cannot be combined with a forced tool call")
    if fmt is not None:
        return fmt.json_schema, "of the output format"
    if len(forced) != 1:
        return None, ""
    tool = next(t for t in request.tools or [] if t.name == forced[0])
    return tool.input_schema or {"type": "object"}, f"of tool {tool.name!r}"


def _tool_choices(
    request: MessagesRequest, forced: tuple[str, ...], schema: dict[str, Any] | None
) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The tools a call may choose among: all of them when a call among several is forced, or with tool_choice auto
    (the model may then answer in text or call one tool); either way the call is constrained."""
    tools = [t for t in request.tools or [] if t.is_client_tool]
    choice = request.tool_choice.type if request.tool_choice else "auto"
    if len(forced) > 1:
        tools = [t for t in tools if t.name in forced]
    elif forced or schema is not None or choice != "auto":
        return ()
    return tuple((t.name, t.input_schema or {"type": "object"}) for t in tools)


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
