"""The bundled local model as a provider: canonical request -> prompt -> engine -> canonical events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from ..canonical import MessagesRequest, new_tool_use_id
from ..canonical.events import (
    block_stop,
    input_json_delta,
    message_end,
    message_start,
    text_delta,
    text_start,
    tool_use_start,
)
from ..engine import GenerationParams, LocalEngine
from ..engine.json_grammar import SchemaError, schema_to_gbnf
from ..errors import InternalError, InvalidRequest
from .base import Event, EventBatch, ModelInfo
from .local_prompt import PromptPlan, plan_prompt

STOP_REASONS = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "context_full": "model_context_window_exceeded",
}


class LocalProvider:
    def __init__(self, engine: LocalEngine, model_id: str, display_name: str, created_at: str) -> None:
        self.engine = engine
        self.info = ModelInfo(model_id, display_name, created_at, context_window=engine.context_window)

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Nothing to release: the engine belongs to whoever started it (the wiring), and outlives event loops."""

    def _prompt(self, request: MessagesRequest, model: str) -> tuple[PromptPlan, list[int]]:
        plan = plan_prompt(request, model)
        text = self.engine.template.render(plan.messages, add_generation_prompt=True) + plan.prefill
        tokens = self.engine.tokenize(text)
        limit = self.engine.context_window
        if len(tokens) >= limit:
            raise InvalidRequest(f"prompt is too long: {len(tokens)} tokens > {limit - 1} maximum")
        return plan, tokens

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        return len(self._prompt(request, model)[1])

    async def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        plan, tokens = self._prompt(request, model)
        grammar = _grammar(plan.schema) if plan.schema is not None else None
        trigger = None
        if plan.auto_tools is not None:
            grammar, trigger = _tool_call_grammar(plan.auto_tools), CALL_OPEN
        params = GenerationParams(
            max_tokens=request.max_tokens,
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=request.top_p,
            top_k=request.top_k,
            seed=request.seed,
            stop=tuple(request.stop_sequences or ()),
            grammar=grammar,
            grammar_trigger=trigger,
            ignore_eos=request.ignore_eos,
            frequency_penalty=request.frequency_penalty or 0.0,
            presence_penalty=request.presence_penalty or 0.0,
        )
        generation = self.engine.submit(tokens, params)  # raises Overloaded before anything is sent
        usage: dict[str, Any] = {
            "input_tokens": len(tokens),
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        try:
            yield [message_start(model, usage)]
            blocks: _TextBlocks | _ToolCall | _TextOrToolCall = _TextBlocks()
            if plan.forced_tools:
                blocks = _ToolCall(plan.forced_tools)
            elif plan.auto_tools is not None:
                blocks = _TextOrToolCall()
            last = None
            async for out in generation:
                last = out
                batch = blocks.feed(out.text)
                if batch:
                    yield batch
            assert last is not None and last.finish_reason is not None
            if last.finish_reason in ("error", "aborted"):
                raise InternalError(last.error or "the local engine stopped this request")
            stop_reason = STOP_REASONS[last.finish_reason]
            batch = blocks.close(stop_reason)
            if blocks.is_tool_call and stop_reason == "end_turn":
                stop_reason = "tool_use"
            usage["output_tokens"] = last.output_tokens
            yield batch + message_end(stop_reason, usage, last.stop_sequence)
        finally:
            generation.close()


CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def _tool_call_grammar(call_schema: dict[str, Any]) -> str:
    """`<tool_call>{"name": ..., "arguments": ...}</tool_call>`, with the JSON constrained by the tools' schemas."""
    body = _grammar(call_schema).replace("root ::=", "call ::=", 1)
    return f'root ::= "{CALL_OPEN}" [ \\n]* call [ \\n]* "{CALL_CLOSE}"\n' + body


def _grammar(schema: dict[str, Any]) -> str:
    try:
        return schema_to_gbnf(schema)
    except SchemaError as exc:
        raise InvalidRequest(f"the JSON schema cannot be enforced on the local model: {exc}") from exc


class _TextBlocks:
    """Streams text as one text block, opened at the first text."""

    is_tool_call = False

    def __init__(self) -> None:
        self.open = False

    def feed(self, text: str) -> list[Event]:
        if not text:
            return []
        events: list[Event] = []
        if not self.open:
            self.open = True
            events.append(text_start(0))
        events.append(text_delta(0, text))
        return events

    def close(self, stop_reason: str) -> list[Event]:
        return [block_stop(0)] if self.open else []


class _ToolCall:
    """Collects a grammar-constrained tool call and emits it as a tool_use block once it is complete."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.text = ""
        self.is_tool_call = False

    def feed(self, text: str) -> list[Event]:
        self.text += text
        return []

    def close(self, stop_reason: str) -> list[Event]:
        try:
            value = json.loads(self.text)
        except ValueError:
            value = None
        if stop_reason != "end_turn" or not isinstance(value, dict):
            # Cut short (max_tokens, stop sequence): give back what was produced, as text.
            text = _TextBlocks()
            return text.feed(self.text) + text.close(stop_reason)
        if len(self.names) == 1:
            name, arguments = self.names[0], value
        else:
            name, arguments = value["name"], value["input"]
        self.is_tool_call = True
        return [tool_use_start(0, new_tool_use_id(), name), input_json_delta(0, json.dumps(arguments)), block_stop(0)]


class _TextOrToolCall:
    """With tool_choice auto: text streams as it comes, except the tail that might be the start of a tool call;
    from `<tool_call>` on (the grammar constrains it) the call is collected and becomes a tool_use block."""

    def __init__(self) -> None:
        self.text = _TextBlocks()
        self.pending = ""  # text not yet released: it could be the beginning of CALL_OPEN
        self.call: str | None = None  # the call's text once CALL_OPEN was seen
        self.is_tool_call = False

    def feed(self, text: str) -> list[Event]:
        if self.call is not None:
            self.call += text
            return []
        self.pending += text
        at = self.pending.find(CALL_OPEN)
        if at >= 0:
            before, self.call = self.pending[:at].rstrip(), self.pending[at:]
            self.pending = ""
            return self.text.feed(before)
        keep = _partial_suffix(self.pending, CALL_OPEN)
        release, self.pending = self.pending[: len(self.pending) - keep], self.pending[len(self.pending) - keep :]
        return self.text.feed(release)

    def close(self, stop_reason: str) -> list[Event]:
        events = self.text.feed(self.pending)
        value = _parse_call(self.call) if self.call is not None and stop_reason == "end_turn" else None
        if value is None:  # no call, or one cut short: what was produced is text
            events += self.text.feed(self.call or "")
            return events + self.text.close(stop_reason)
        events += self.text.close(stop_reason)
        index = 1 if self.text.open else 0
        self.is_tool_call = True
        name, arguments = value
        return [
            *events,
            tool_use_start(index, new_tool_use_id(), name),
            input_json_delta(index, json.dumps(arguments)),
            block_stop(index),
        ]


def _partial_suffix(text: str, marker: str) -> int:
    """How many characters at the end of `text` are a proper prefix of `marker`."""
    for n in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-n:]):
            return n
    return 0


def _parse_call(text: str) -> tuple[str, Any] | None:
    inner = text.strip().removeprefix(CALL_OPEN).removesuffix(CALL_CLOSE).strip()
    try:
        value = json.loads(inner)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or "arguments" not in value:
        return None
    return value["name"], value["arguments"]
