"""The bundled local model as a provider: canonical request -> prompt -> engine -> canonical events."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from ..engine import GenerationParams, LocalEngine, SequenceTimings
from ..engine.core import Output
from ..engine.json_grammar import SchemaError, choice_to_gbnf, pointer, schema_to_gbnf
from ..engine.llama import Sampler
from ..errors import InternalError, InvalidRequest
from .base import CURRENT_ATTEMPT, Event, EventBatch, ModelInfo, Phase, Priority
from .local_logprobs import entries, prompt_entries, raw_prompt_tokens
from .local_prompt import PromptPlan, plan_prompt, prompt_size, refuse_thinking

STOP_REASONS = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "context_full": "model_context_window_exceeded",
}


@dataclass
class _Prepared:
    tokens: list[int]
    plan: PromptPlan
    params: GenerationParams | None = None
    sampler: Sampler | None = None
    prompt_text: str | None = None  # a raw prompt's text (POST /v1/completions): its echo, its tokens' offsets

    def discard(self) -> None:
        if self.sampler is not None:
            self.sampler.free()


class LocalProvider:
    def __init__(self, engine: LocalEngine, model_id: str, display_name: str, created_at: str) -> None:
        self.engine = engine
        self.info = ModelInfo(model_id, display_name, created_at, context_window=engine.context_window)

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Nothing to release: the engine belongs to whoever started it (the wiring), and outlives event loops."""

    async def _prepare(self, request: MessagesRequest, model: str, *, generate: bool, batch: bool = False) -> _Prepared:
        """The prompt's tokens (and, to generate, the sampler), refusing a prompt that cannot fit the context window
        before anything costly: a glance at the request bounds its length from below, so a prompt far too long
        (40,000 messages, megabytes of text) is refused without rendering or tokenizing it."""
        size = prompt_size(request)
        limit = self.engine.context_window
        raw = request.raw_prompt
        if raw is not None and raw.tokens is not None and len(raw.tokens) >= limit:
            raise InvalidRequest(f"prompt is too long: {len(raw.tokens)} tokens > {limit - 1} maximum", param="prompt")
        # One turn fewer: a final assistant turn is a prefill, which adds only the generation prompt's tokens.
        floor = max(size.chars // self.engine.model.max_token_bytes, (size.turns - 1) * self.engine.turn_tokens)
        if floor >= limit:
            raise InvalidRequest(f"prompt is too long: at least {floor} tokens > {limit - 1} maximum")
        # Even a one-line request goes to a worker: preparing it (the SmolLM2 template adds a system prompt) costs
        # the event loop ~190 us of CPU inline and ~45 us through a worker, for ~80 us more latency (measured on
        # 2 vCPUs), and a larger one costs ~0.25 us a character more, all of it off the loop.
        work = functools.partial(self._build, request, model, generate)
        return await self.engine.offload(work, _Prepared.discard, batch=batch)

    def _build(self, request: MessagesRequest, model: str, generate: bool) -> _Prepared:
        """On a preparation worker: nothing here may touch the event loop."""
        raw_text = None
        if request.raw_prompt is not None:  # the legacy Completions API: the prompt as it is, no chat template
            plan, tokens, raw_text = raw_prompt_tokens(self.engine.model, request, model)
        else:
            plan = plan_prompt(request, model)
            text = self.engine.template.render(plan.messages, add_generation_prompt=True) + plan.prefill
            tokens = self.engine.tokenize(text)
        limit = self.engine.context_window
        if len(tokens) >= limit:
            raise InvalidRequest(f"prompt is too long: {len(tokens)} tokens > {limit - 1} maximum")
        if not generate:
            return _Prepared(tokens, plan)
        refuse_thinking(request, model)
        grammar, trigger = _grammar(plan)
        raw = request.raw_prompt
        params = GenerationParams(
            # max_tokens 0 (scoring a prompt) still samples one token, which is dropped: the engine ends a sequence
            # on a sampled token, and the sample's logits are the prompt's last position's.
            max_tokens=request.max_tokens if raw is None or raw.generate else 1,
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
            logprobs=request.logprobs,
            prompt_logprobs=raw is not None and raw.echo and request.logprobs is not None,
        )
        return _Prepared(tokens, plan, params, self.engine.sampler(params), raw_text)

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        return len((await self._prepare(request, model, generate=False)).tokens)

    def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        return self.stream_at("interactive", request, model)

    async def stream_at(self, priority: Priority, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        """The answer, scheduled by the engine at `priority` (the `Prioritized` capability)."""
        attempt = CURRENT_ATTEMPT.get()  # the try this is, to report the sequence's phases on
        is_batch = priority == "batch"
        prepared = await self._prepare(request, model, generate=True, batch=is_batch)
        plan, tokens = prepared.plan, prepared.tokens
        assert prepared.params is not None
        generation = self.engine.submit(tokens, prepared.params, prepared.sampler, batch=is_batch)  # may overload
        usage: dict[str, Any] = {
            "input_tokens": len(tokens),
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        try:
            outputs = aiter(generation)
            start = message_start(model, usage)
            first = None
            if prepared.prompt_text is not None:  # a raw prompt: its text (and its tokens' log-probabilities)
                first = await anext(outputs) if prepared.params.prompt_logprobs else None
                start["message"]["prompt"] = await self._prompt(prepared, first)
            yield [start]
            blocks: _TextBlocks | _ToolCall | _TextOrToolCall = _TextBlocks()
            if plan.forced_tools:
                blocks = _ToolCall(plan.forced_tools)
            elif plan.auto_tools:
                blocks = _TextOrToolCall()
            scoring = request.raw_prompt is not None and not request.raw_prompt.generate  # max_tokens 0: no output
            last = None
            # Only an echo waited for its first output: every other answer reads the generation directly.
            async for out in outputs if first is None else _prepend(first, outputs):
                last = out
                if scoring:
                    continue
                batch = blocks.feed(out.text)
                found = out.logprobs
                if found and out.finish_reason == "end_turn" and request.raw_prompt is None:
                    found = found[:-1]  # the end-of-turn token: a chat answer's logprobs leave it out, as OpenAI's
                if found:
                    batch = _with_logprobs(batch, blocks, entries(self.engine.model, found))
                if batch:
                    yield batch
            assert last is not None and last.finish_reason is not None
            if attempt is not None and last.timings is not None:
                attempt.phases = phases(last.timings)
            if last.finish_reason in ("error", "aborted"):
                raise InternalError(last.error or "the local engine stopped this request")
            stop_reason = STOP_REASONS[last.finish_reason]
            batch = blocks.close(stop_reason)
            if blocks.is_tool_call and stop_reason == "end_turn":
                stop_reason = "tool_use"
            usage["output_tokens"] = 0 if scoring else last.output_tokens
            # Known only once the scheduler placed the prompt, so message_start counted every prompt token as input;
            # the message_delta's usage corrects it, as Anthropic's does (input_tokens leaves cache reads out).
            usage["input_tokens"] = len(tokens) - last.cached_tokens
            usage["cache_read_input_tokens"] = last.cached_tokens
            if scoring:
                stop_reason, batch = "max_tokens", []
            yield batch + message_end(stop_reason, usage, last.stop_sequence)
        finally:
            generation.close()

    async def _prompt(self, prepared: _Prepared, first: Output | None) -> dict[str, Any]:
        """A raw prompt as its answer carries it: the text, and with echo and logprobs each token's log-probability
        (named on a preparation worker: a long prompt's entries are many)."""
        scored = first.prompt_logprobs if first is not None else None
        if scored is None:
            return {"text": prepared.prompt_text, "logprobs": None}
        model, tokens = self.engine.model, prepared.tokens
        work = functools.partial(prompt_entries, model, tokens, scored)
        return {"text": prepared.prompt_text, "logprobs": await self.engine.offload(work, lambda _: None)}


async def _prepend(first: Output, rest: AsyncIterator[Output]) -> AsyncIterator[Output]:
    yield first
    if first.finish_reason is not None:
        return
    async for out in rest:
        yield out


def _with_logprobs(
    batch: list[Event], blocks: _TextBlocks | _ToolCall | _TextOrToolCall, found: list[Any]
) -> list[Event]:
    """The output's tokens' log-probabilities on its text delta, or on an empty one when it has none (its text held
    back by a forming stop sequence, or a legacy completion's lone end-of-turn token). A tool call's tokens have no
    text delta to carry them."""
    for event in reversed(batch):
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            event["delta"]["logprobs"] = found
            return batch
    if isinstance(blocks, _TextBlocks):  # opened if need be: a legacy completion may be the end-of-turn token alone
        return [*batch, *blocks.opening(), text_delta(0, "", found)]
    return batch


def phases(timings: SequenceTimings) -> list[Phase]:
    """The sequence's queue wait, prefill and decode, as far as it got."""
    out: list[Phase] = []
    started, first, ended = timings.started, timings.first_token, timings.ended
    out.append(Phase("queue", timings.submitted, started if started is not None else ended))
    if started is not None:
        out.append(Phase("prefill", started, first if first is not None else ended))
    if first is not None:
        out.append(Phase("decode", first, ended))
    return out


CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def _grammar(plan: PromptPlan) -> tuple[str | None, str | None]:
    """The grammar the answer must follow, and the text that triggers it (None: from the start)."""
    try:
        if plan.schema is not None:
            return schema_to_gbnf(plan.schema), None
        if not plan.tool_schemas:
            return None, None
        if not plan.auto_tools:
            return choice_to_gbnf("input", plan.tool_schemas), None
        # `<tool_call>{"name": ..., "arguments": ...}</tool_call>`, the JSON constrained by the tools' schemas.
        body = choice_to_gbnf("arguments", plan.tool_schemas).replace("root ::=", "call ::=", 1)
        return f'root ::= "{CALL_OPEN}" [ \\n]* call [ \\n]* "{CALL_CLOSE}"\n' + body, CALL_OPEN
    except SchemaError as exc:
        raise InvalidRequest(_schema_error(plan, exc)) from exc


def _schema_error(plan: PromptPlan, exc: SchemaError) -> str:
    """Whose schema failed and where in it: the output format's, a forced tool's, or one of the tools'."""
    source, path = plan.schema_source, exc.path
    if plan.schema is None:
        if path:
            source, path = f"of tool {path[0]!r}", path[1:]
        else:
            source = "of the tools"
    where = f"at {pointer(path)}: " if path else ""
    return f"the JSON schema {source} cannot be enforced on the local model: {where}{exc.reason}"


class _TextBlocks:
    """Streams text as one text block, opened at the first text."""

    is_tool_call = False

    def __init__(self) -> None:
        self.open = False

    def feed(self, text: str) -> list[Event]:
        if not text:
            return []
        events = self.opening()
        events.append(text_delta(0, text))
        return events

    def opening(self) -> list[Event]:
        """The block's start, if it has not started yet."""
        if self.open:
            return []
        self.open = True
        return [text_start(0)]

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
