"""The shared vocabulary of the guard room: where text comes from, what a policy found, what was done about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Source = Literal["INPUT", "OUTPUT"]
PolicyAction = Literal["BLOCK", "ANONYMIZE", "NONE"]  # NONE: detect and record only, as Bedrock's detect mode
Strength = Literal["NONE", "LOW", "MEDIUM", "HIGH"]
Confidence = Literal["NONE", "LOW", "MEDIUM", "HIGH"]

# Bedrock's per-policy action words, from ours.
_TAKEN = {"BLOCK": "BLOCKED", "ANONYMIZE": "ANONYMIZED", "NONE": "NONE"}


class Action(StrEnum):
    """What a guardrail did to a text, worst first: blocked beats masked beats nothing."""

    NONE = "NONE"
    ANONYMIZED = "ANONYMIZED"
    INTERVENED = "INTERVENED"


class Policy(StrEnum):
    WORD = "wordPolicy"
    SENSITIVE = "sensitiveInformationPolicy"
    TOPIC = "topicPolicy"
    CONTENT = "contentPolicy"
    GROUNDING = "contextualGroundingPolicy"


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of text a masking policy found: [start, end) in the text it was found in."""

    start: int
    end: int
    kind: str  # the entity type (EMAIL) or the regex's name
    action: PolicyAction
    regex: bool = False  # found by a configured regex filter rather than an entity detector

    @property
    def placeholder(self) -> str:
        return "{" + self.kind + "}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One detection, in the terms a Bedrock assessment reports it.

    `kind` is the word list entry, entity type, regex name, topic name or filter type; `match` the text that
    matched (empty for classifier verdicts); `confidence`, `strength`, `score`, `threshold` fill in where the
    policy has them."""

    policy: Policy
    kind: str
    action: PolicyAction
    match: str = ""
    sub: str = ""  # which list within the policy: customWords / managedWordLists / piiEntities / regexes
    confidence: Confidence | None = None
    strength: Strength | None = None
    score: float | None = None
    threshold: float | None = None
    pattern: str | None = None
    span: Span | None = field(default=None, repr=False, compare=False)  # where, for masking policies

    @property
    def blocks(self) -> bool:
        return self.action == "BLOCK"

    def to_dict(self, with_match: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"action": _TAKEN[self.action], "detected": True}
        if self.policy is Policy.WORD:
            out["match"] = self.match if with_match else ""
            if self.sub == "managedWordLists":
                out["type"] = "PROFANITY"
        elif self.policy is Policy.SENSITIVE:
            out["match"] = self.match if with_match else ""
            out["name" if self.sub == "regexes" else "type"] = self.kind
            if self.pattern is not None:
                out["regex"] = self.pattern
        elif self.policy is Policy.TOPIC:
            out |= {"name": self.kind, "type": "DENY"}
        elif self.policy is Policy.CONTENT:
            out |= {"type": self.kind, "confidence": self.confidence, "filterStrength": self.strength}
        else:
            out |= {"type": self.kind, "score": self.score, "threshold": self.threshold}
        return out


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one text: what happened, the text to pass on (masked, or the blocked message), and why."""

    action: Action
    text: str
    findings: tuple[Finding, ...] = ()
    spans: tuple[Span, ...] = field(default=(), repr=False)

    @property
    def blocked(self) -> bool:
        return self.action is Action.INTERVENED

    def assessments(self, with_matches: bool = True) -> list[dict[str, Any]]:
        """Bedrock's `assessments` shape: one object keyed by policy, each holding its lists of findings.
        `with_matches=False` leaves out the matched text, for records that must not keep what was masked."""
        return assessments_of(self.findings, with_matches)


_LISTS = {
    Policy.WORD: ("customWords", "managedWordLists"),
    Policy.SENSITIVE: ("piiEntities", "regexes"),
    Policy.TOPIC: ("topics",),
    Policy.CONTENT: ("filters",),
    Policy.GROUNDING: ("filters",),
}


def assessments_of(findings: tuple[Finding, ...] | list[Finding], with_matches: bool = True) -> list[dict[str, Any]]:
    if not findings:
        return []
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for finding in findings:
        lists = _LISTS[finding.policy]
        name = finding.sub if finding.sub in lists else lists[0]
        grouped.setdefault(finding.policy.value, {}).setdefault(name, []).append(finding.to_dict(with_matches))
    return [grouped]
