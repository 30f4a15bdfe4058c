"""Input enforcement: every text of a Messages request (system, messages, tool inputs, tool results, text
documents) is checked before the model sees it. A blocked request never reaches the model; a masked one goes on
with placeholders in place of what was found.

Images are not read; thinking blocks are left as they are, since their signatures cover the exact text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..canonical import MessagesRequest
from ..canonical.events import Event, message_end, message_start, text_delta, text_start
from ..canonical.events import block_stop as _block_stop
from .grounding import GroundingContext
from .guardrail import Guardrail
from .types import Action, Finding, assessments_of


@dataclass(frozen=True, slots=True)
class InputVerdict:
    """The outcome of input enforcement: the request to send on (masked or unchanged), or the blocked message."""

    action: Action
    request: MessagesRequest
    blocked_message: str | None
    findings: tuple[Finding, ...]

    @property
    def blocked(self) -> bool:
        return self.action is Action.INTERVENED

    def assessments(self, with_matches: bool = True) -> list[dict[str, Any]]:
        return assessments_of(self.findings, with_matches)

    def trace(self, with_matches: bool = True) -> dict[str, Any]:
        """The `guardrail` object a dialect returns when the request asks for a trace."""
        return {"action": _bedrock_action(self.action), "assessments": self.assessments(with_matches)}


def _bedrock_action(action: Action) -> str:
    return "NONE" if action is Action.NONE else "GUARDRAIL_INTERVENED"


class _Walker:
    """Checks each string it is given, remembering findings and whether anything was blocked or masked."""

    def __init__(self, guardrail: Guardrail) -> None:
        self.guardrail = guardrail
        self.findings: list[Finding] = []
        self.blocked = False
        self.masked = False

    def text(self, value: str) -> str:
        if self.blocked:
            return value
        result = self.guardrail.assess(value, "INPUT")
        self.findings += result.findings
        if result.blocked:
            self.blocked = True
            return value
        if result.action is Action.ANONYMIZED:
            self.masked = True
            return result.text
        return value

    def json(self, value: Any) -> Any:
        """Tool inputs: every string value is checked on its own (keys are the tool's schema, not user data)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def block(self, block: dict[str, Any]) -> dict[str, Any]:
        kind = block.get("type")
        if kind == "text":
            return {**block, "text": self.text(block["text"])}
        if kind == "tool_use":
            return {**block, "input": self.json(block.get("input") or {})}
        if kind == "tool_result":
            content = block.get("content")
            if isinstance(content, str):
                return {**block, "content": self.text(content)}
            if isinstance(content, list):
                return {**block, "content": [self.block(b) for b in content]}
            return block
        if kind == "document":
            source = block.get("source") or {}
            if source.get("type") == "text" and isinstance(source.get("data"), str):
                return {**block, "source": {**source, "data": self.text(source["data"])}}
        return block


def check_request(guardrail: Guardrail, request: MessagesRequest) -> InputVerdict:
    walker = _Walker(guardrail)
    data = request.model_dump(by_alias=True, exclude_unset=True)
    system = data.get("system")
    if isinstance(system, str):
        data["system"] = walker.text(system)
    elif isinstance(system, list):
        data["system"] = [walker.block(b) for b in system]
    for message in data["messages"]:
        content = message["content"]
        if isinstance(content, str):
            message["content"] = walker.text(content)
        else:
            message["content"] = [walker.block(b) for b in content]
    findings = tuple(walker.findings)
    if walker.blocked:
        return InputVerdict(Action.INTERVENED, request, guardrail.blocked_message("INPUT"), findings)
    if not walker.masked:
        return InputVerdict(Action.NONE, request, None, findings)
    masked = MessagesRequest.model_validate(data).derived_from(request)
    return InputVerdict(Action.ANONYMIZED, masked, None, findings)


def grounding_context(request: MessagesRequest) -> GroundingContext | None:
    """The grounding source of a request: its plain-text `document` blocks (`source.type == "text"`), the way
    Anthropic's API takes a document to answer from. The query is the text of the last user message."""
    sources: list[str] = []
    query = ""
    for message in request.messages:
        texts = []
        for block in message.blocks():
            kind = getattr(block, "type", None)
            if kind == "document" and block.source.get("type") == "text":
                data = block.source.get("data")
                if isinstance(data, str):
                    sources.append(data)
            elif kind == "text":
                texts.append(block.text)
        if message.role == "user" and texts:
            query = "\n".join(texts)
    if not sources:
        return None
    return GroundingContext("\n\n".join(sources), query)


def refusal_events(model: str, text: str, trace: dict[str, Any] | None = None) -> list[Event]:
    """A whole answer that is only `text`, ending with stop_reason "refusal": what a blocked request returns."""
    usage = {"input_tokens": 0, "output_tokens": 0}
    end = message_end("refusal", usage)
    if trace is not None:
        end[0]["guardrail"] = trace
    return [message_start(model, usage), text_start(0), text_delta(0, text), _block_stop(0), *end]
