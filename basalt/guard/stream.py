"""Output enforcement on the canonical event stream.

Sync mode: text is released only after it is checked. Each text block keeps a holdback: the last `holdback`
characters are not released until more text follows, and a release never cuts through a detected entity or a
word, so a card number split over two deltas is seen whole and masked. Text is checked in windows of at least
`chunk` characters with the last released text as left context. Tool-use inputs are held until their block ends,
then checked and masked as JSON values.

Async mode: text is released at once and checked the same way behind it; on a block the stream stops there (what
was released stays released, and nothing can be masked).

On a block the answer ends with a text block holding the blocked message and stop_reason "refusal"; the upstream
stream is closed (its remaining tokens are not generated). The result stays well-formed: every block started is
stopped, indices stay gapless, and message_delta (with usage) and message_stop end it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from ..canonical.events import Event, EventBatch, block_stop, input_json_delta, message_end, text_delta, text_start
from .grounding import GroundingContext
from .guardrail import Detection, Guardrail, mask
from .types import Action, Finding, Policy, Span, assessments_of

_CONTEXT = 160  # characters of released text kept as left context for the next window


@dataclass(slots=True)
class _TextBlock:
    out_index: int | None = None  # our index once the block has been started downstream
    pending: str = ""  # received, not yet released
    context: str = ""  # the tail of what was released (unmasked), for detectors to see across the cut


@dataclass(slots=True)
class _ToolBlock:
    start: Event
    parts: list[str] = field(default_factory=list)
    out_index: int | None = None


class _Blocked(Exception):
    """Raised inside the loop when a policy blocks; the stream then ends with the blocked message."""


class GuardedStream:
    """The guarded events (iterate it once) and, once iterated, the outcome: `action`, `findings`, `assessments()`."""

    def __init__(
        self,
        guardrail: Guardrail,
        events: AsyncIterator[EventBatch],
        *,
        trace: bool = False,
        grounding: GroundingContext | None = None,
        holdback: int = 64,
        chunk: int = 96,
        whole: bool = False,
    ) -> None:
        self.guardrail = guardrail
        self.action = Action.NONE
        self.findings: list[Finding] = []
        self._events = events
        self._trace = trace
        self._grounding = grounding if guardrail.has_grounding else None
        self._sync = guardrail.config.stream_mode == "sync"
        # Grounding judges the whole answer, so it holds the whole answer; so does a caller that folds the stream.
        self._whole = whole or self._grounding is not None
        self._holdback = holdback
        self._chunk = chunk
        self._blocks: dict[int, _TextBlock | _ToolBlock | int] = {}  # upstream index -> state or our index
        self._next_out = 0
        self._open_out: set[int] = set()
        self._answer: list[str] = []  # all text, for grounding
        self._seen: set[tuple[str, str, str]] = set()
        self._deltas = 0
        self._usage: dict[str, Any] = {}

    def assessments(self, with_matches: bool = True) -> list[dict[str, Any]]:
        return assessments_of(self.findings, with_matches)

    def trace(self, with_matches: bool = True) -> dict[str, Any]:
        action = "NONE" if self.action is Action.NONE else "GUARDRAIL_INTERVENED"
        return {"action": action, "assessments": self.assessments(with_matches)}

    def __aiter__(self) -> AsyncGenerator[EventBatch, None]:
        return self._run()

    async def _run(self) -> AsyncGenerator[EventBatch, None]:
        held: EventBatch = []  # whole mode: everything, until the answer is complete
        try:
            async for batch in self._events:
                out: EventBatch = held if self._whole else []
                for event in batch:
                    try:
                        out += self._on_event(event)
                    except _Blocked:
                        if self._whole:
                            del out[1:]  # message_start only: the answer is the blocked message alone
                            self._next_out = 0
                            self._open_out.clear()
                        yield out + self._refuse()
                        return
                if out and not self._whole:
                    yield out
            if held:
                yield held
        finally:
            close = getattr(self._events, "aclose", None)
            if close is not None:
                await close()

    # --- events ---------------------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> list[Event]:
        kind = event["type"]
        if kind == "message_start":
            self._usage = dict(event["message"].get("usage") or {})
            return [event]
        if kind == "content_block_start":
            return self._on_start(event)
        if kind == "content_block_delta":
            self._deltas += 1
            return self._on_delta(event)
        if kind == "content_block_stop":
            return self._on_stop(event["index"])
        if kind == "message_delta":
            self._usage.update(event.get("usage") or {})
            out = self._finish()
            return [*out, self._with_trace(event)]
        return [event]

    def _on_start(self, event: Event) -> list[Event]:
        index, block = event["index"], event["content_block"]
        if block.get("type") == "text":
            self._blocks[index] = state = _TextBlock()
            if not self._sync:
                state.out_index = self._new_out()
                return [text_start(state.out_index)]
            return []
        if block.get("type") == "tool_use":
            self._blocks[index] = tool = _ToolBlock(event)
            if not self._sync:
                tool.out_index = self._new_out()
                return [{**event, "index": tool.out_index}]
            return []
        out_index = self._new_out()
        self._blocks[index] = out_index
        return [{**event, "index": out_index}]

    def _on_delta(self, event: Event) -> list[Event]:
        state = self._blocks.get(event["index"])
        delta = event["delta"]
        if isinstance(state, _TextBlock) and delta.get("type") == "text_delta":
            self._answer.append(delta["text"])
            return self._text(state, delta["text"])
        if isinstance(state, _ToolBlock) and delta.get("type") == "input_json_delta":
            state.parts.append(delta["partial_json"])
            if not self._sync and state.out_index is not None:
                return [{**event, "index": state.out_index}]
            return []
        if isinstance(state, int):
            return [{**event, "index": state}]
        return []

    def _on_stop(self, index: int) -> list[Event]:
        state = self._blocks.get(index)
        if isinstance(state, _TextBlock):
            out = self._release(state, final=True)
            return self._close_text(state, out)
        if isinstance(state, _ToolBlock):
            return self._tool(state)
        if isinstance(state, int):
            self._open_out.discard(state)
            return [block_stop(state)]
        return []

    def _finish(self) -> list[Event]:
        """At message_delta: the grounding check, then every block still held."""
        if self._grounding is not None:
            found = self.guardrail.detect("".join(self._answer), "OUTPUT", self._grounding)
            self._record(found, grounding_only=True)
            if found.blocked:
                raise _Blocked
        out: list[Event] = []
        for state in list(self._blocks.values()):
            if isinstance(state, _TextBlock) and (
                state.pending or state.out_index is None or state.out_index in self._open_out
            ):
                out += self._close_text(state, self._release(state, final=True))
        return out

    # --- text -----------------------------------------------------------------------------------------------------
    def _text(self, state: _TextBlock, text: str) -> list[Event]:
        if not self._sync:
            # Released at once; checked behind, in the same windows.
            out = [text_delta(state.out_index or 0, text)]
            state.pending += text
            self._release(state, final=False, emit=False)
            return out
        state.pending += text
        return self._release(state, final=False)

    def _release(self, state: _TextBlock, final: bool, emit: bool = True) -> list[Event]:
        pending = state.pending
        if not pending or (not final and not self._due(pending)):
            return []
        window = state.context + pending
        offset = len(state.context)
        found = self.guardrail.detect(window, "OUTPUT")
        if found.blocked:
            self._record(found)
            raise _Blocked
        cut = len(pending) if final or not self._sync else self._cut(pending, found.spans, offset)
        if cut <= 0:
            return []
        spans = [
            Span(max(s.start - offset, 0), min(s.end - offset, cut), s.kind, s.action, s.regex)
            for s in found.spans
            if s.end > offset and s.start - offset < cut
        ]
        self._record(found, offset=offset, cut=cut)
        released = pending[:cut]
        state.pending = pending[cut:]
        state.context = (state.context + released)[-_CONTEXT:]
        if not emit:
            return []
        masking = [s for s in spans if s.action == "ANONYMIZE"] if self._sync else []
        if masking and self.action is Action.NONE:
            self.action = Action.ANONYMIZED
        out: list[Event] = []
        if state.out_index is None:
            state.out_index = self._new_out()
            out.append(text_start(state.out_index))
        out.append(text_delta(state.out_index, mask(released, masking) if masking else released))
        return out

    def _due(self, pending: str) -> bool:
        """Sync mode checks once a chunk is there beyond the holdback. Async mode holds nothing back, so it checks
        each chunk and each finished sentence, to stop the stream as soon after a violation as it can."""
        if self._sync:
            return len(pending) >= self._holdback + self._chunk
        return len(pending) >= self._chunk or pending.rstrip(" ")[-1:] in (".", "!", "?", "\n")

    def _cut(self, pending: str, spans: list[Span], offset: int) -> int:
        """Where to release up to: the last whitespace that leaves `holdback` characters held, moved back before
        any entity it would split."""
        limit = len(pending) - self._holdback
        cut = max(pending.rfind(" ", 0, limit), pending.rfind("\n", 0, limit)) + 1
        if cut <= 0 and len(pending) > 8 * self._chunk:
            cut = limit  # a very long run with no space: release it rather than hold everything
        for s in sorted(spans, key=lambda s: s.start, reverse=True):
            start, end = s.start - offset, s.end - offset
            if start < cut < end:
                cut = max(start, 0)
        return cut

    def _close_text(self, state: _TextBlock, out: list[Event]) -> list[Event]:
        if state.out_index is None:  # an empty block: keep it, as upstream sent it
            state.out_index = self._new_out()
            out = [text_start(state.out_index), *out]
        if state.out_index in self._open_out:
            self._open_out.discard(state.out_index)
            out.append(block_stop(state.out_index))
        return out

    # --- tool use -------------------------------------------------------------------------------------------------
    def _tool(self, state: _ToolBlock) -> list[Event]:
        raw = "".join(state.parts)
        try:
            value = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            value = raw
        masked = self._check_json(value)
        if not self._sync:
            assert state.out_index is not None
            self._open_out.discard(state.out_index)
            return [block_stop(state.out_index)]
        state.out_index = self._new_out()
        text = raw if masked is value else json.dumps(masked, ensure_ascii=False)
        out = [{**state.start, "index": state.out_index}]
        if text:
            out.append(input_json_delta(state.out_index, text))
        self._open_out.discard(state.out_index)
        return [*out, block_stop(state.out_index)]

    def _check_json(self, value: Any) -> Any:
        if isinstance(value, str):
            found = self.guardrail.detect(value, "OUTPUT")
            self._record(found)
            if found.blocked:
                raise _Blocked
            masking = [s for s in found.spans if s.action == "ANONYMIZE"]
            if masking and self._sync:
                if self.action is Action.NONE:
                    self.action = Action.ANONYMIZED
                return mask(value, masking)
            return value
        if isinstance(value, list):
            items = [self._check_json(v) for v in value]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        if isinstance(value, dict):
            fields = {k: self._check_json(v) for k, v in value.items()}
            return value if all(fields[k] is value[k] for k in value) else fields
        return value

    # --- outcome --------------------------------------------------------------------------------------------------
    def _record(self, found: Detection, offset: int = 0, cut: int | None = None, grounding_only: bool = False) -> None:
        """Keep each finding once (windows overlap, so a match is seen again), and only once it is released: a
        span in the held tail is recorded by the window that releases it. Async mode cannot mask what is already
        out, so its masking findings are recorded as detections (action NONE)."""
        for f in found.findings:
            if grounding_only and f.policy is not Policy.GROUNDING:
                continue
            if cut is not None and f.span is not None and f.span.start - offset >= cut:
                continue
            key = (f.policy.value, f.kind, f.match)
            if key in self._seen:
                continue
            self._seen.add(key)
            if not self._sync and f.action == "ANONYMIZE":
                f = replace(f, action="NONE")
            self.findings.append(f)

    def _refuse(self) -> list[Event]:
        """End the answer with the blocked message: close what is open, add the message, end with "refusal"."""
        self.action = Action.INTERVENED
        out = [block_stop(i) for i in sorted(self._open_out)]
        self._open_out.clear()
        index = self._new_out()
        out += [text_start(index), text_delta(index, self.guardrail.blocked_message("OUTPUT")), block_stop(index)]
        self._open_out.discard(index)
        usage = dict(self._usage)
        # The upstream is cut short, so its final count never comes: count what was generated, a token a delta
        # at least (the local engine sends one token per delta; upstreams may send more, so this is a floor).
        usage["output_tokens"] = max(int(usage.get("output_tokens") or 0), self._deltas)
        end = message_end("refusal", usage)
        end[0] = self._with_trace(end[0])
        return out + end

    def _with_trace(self, event: Event) -> Event:
        if not self._trace:
            return event
        return {**event, "guardrail": self.trace()}

    def _new_out(self) -> int:
        index, self._next_out = self._next_out, self._next_out + 1
        self._open_out.add(index)
        return index


def guard_stream(
    guardrail: Guardrail,
    events: AsyncIterator[EventBatch],
    *,
    trace: bool = False,
    grounding: GroundingContext | None = None,
    whole: bool = False,
) -> GuardedStream:
    """Guard an answer's canonical events (in batches, as providers stream them). Iterate the result for the batches
    to send; read its `action`,
    `findings` and `assessments()` after the stream ends (for the usage ledger). `trace=True` adds the outcome to
    the message_delta event under "guardrail". `whole=True` holds all text until the end, for a caller that folds
    the stream into one response: a blocked answer is then only the blocked message."""
    return GuardedStream(guardrail, events, trace=trace, grounding=grounding, whole=whole)
