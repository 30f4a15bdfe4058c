"""Guardrail configurations: what a YAML file or the admin API defines. Validation only; compiling is guardrail.py's."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .types import PolicyAction, Source, Strength

ContentType = Literal["HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK"]

# Bedrock's long entity names, accepted for ours so a Bedrock guardrail definition reads as is.
ENTITY_ALIASES = {
    "CREDIT_DEBIT_CARD_NUMBER": "CREDIT_CARD",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": "IBAN",
    "US_SOCIAL_SECURITY_NUMBER": "US_SSN",
}
ENTITY_TYPES = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "URL",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "API_KEY",
    "PASSWORD",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Directed(_Strict):
    """A policy entry with Bedrock's per-direction switches: `action` for both, `input_action`/`output_action` to
    differ, `input_enabled`/`output_enabled` to not evaluate a direction at all."""

    action: PolicyAction = "BLOCK"
    input_action: PolicyAction | None = None
    output_action: PolicyAction | None = None
    input_enabled: bool = True
    output_enabled: bool = True

    def action_for(self, source: Source) -> PolicyAction | None:
        """The action in this direction, or None when the direction is off."""
        if source == "INPUT":
            return (self.input_action or self.action) if self.input_enabled else None
        return (self.output_action or self.action) if self.output_enabled else None


class _BlockOnly(_Directed):
    @model_validator(mode="after")
    def _no_anonymize(self) -> _BlockOnly:
        if "ANONYMIZE" in (self.action, self.input_action, self.output_action):
            raise ValueError("only BLOCK or NONE apply here; ANONYMIZE is for sensitive information and regexes")
        return self


class WordPolicy(_BlockOnly):
    words: list[str] = Field(default_factory=list)  # matched whole-word, case-insensitively
    managed_profanity: bool = False

    @field_validator("words")
    @classmethod
    def _non_empty(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError("a word filter entry is empty")
        return words


class EntityFilter(_Directed):
    type: str
    action: PolicyAction = "ANONYMIZE"

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        value = ENTITY_ALIASES.get(value.upper(), value.upper())
        if value not in ENTITY_TYPES:
            raise ValueError(f"unknown entity type {value!r}; known: {', '.join(ENTITY_TYPES)}")
        return value


class RegexFilter(_Directed):
    name: str = Field(min_length=1, max_length=100)
    pattern: str = Field(min_length=1, max_length=500)
    description: str | None = None
    action: PolicyAction = "ANONYMIZE"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"the pattern does not compile: {exc}") from None
        return pattern


class SensitiveInformationPolicy(_Strict):
    entities: list[EntityFilter] = Field(default_factory=list)
    regexes: list[RegexFilter] = Field(default_factory=list)


class DeniedTopic(_BlockOnly):
    name: str = Field(min_length=1, max_length=100)
    definition: str = Field(min_length=1, max_length=1000)
    examples: list[str] = Field(default_factory=list, max_length=5)
    # Cosine similarity of all-MiniLM-L6-v2 embeddings at or above which a sentence is on the topic; 0.4 was the
    # best balance on our labelled set (docs/guardrails.md has the sweep).
    threshold: float = Field(default=0.4, gt=0.0, le=1.0)


class ContentFilter(_Strict):
    type: ContentType
    input_strength: Strength = "HIGH"
    output_strength: Strength = "HIGH"
    input_action: Literal["BLOCK", "NONE"] = "BLOCK"
    output_action: Literal["BLOCK", "NONE"] = "BLOCK"

    @model_validator(mode="after")
    def _attack_is_input_only(self) -> ContentFilter:
        if self.type == "PROMPT_ATTACK" and self.output_strength != "NONE":
            self.output_strength = "NONE"  # Bedrock evaluates prompt attacks on input only
        return self

    def strength_for(self, source: Source) -> Strength:
        return self.input_strength if source == "INPUT" else self.output_strength

    def action_for(self, source: Source) -> PolicyAction:
        return self.input_action if source == "INPUT" else self.output_action


class GroundingPolicy(_Strict):
    """Scored on output when the request supplies a grounding source; each threshold None leaves that check off."""

    grounding_threshold: float | None = Field(default=None, ge=0.0, lt=1.0)
    relevance_threshold: float | None = Field(default=None, ge=0.0, lt=1.0)
    action: Literal["BLOCK", "NONE"] = "BLOCK"


class GuardrailConfig(_Strict):
    name: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = "DRAFT"
    description: str | None = None
    blocked_input_message: str = "Sorry, the model cannot answer this question."
    blocked_output_message: str = "Sorry, the model cannot answer this question."
    stream_mode: Literal["sync", "async"] = "sync"
    words: WordPolicy | None = None
    sensitive_information: SensitiveInformationPolicy | None = None
    topics: list[DeniedTopic] = Field(default_factory=list, max_length=30)
    content: list[ContentFilter] = Field(default_factory=list)
    grounding: GroundingPolicy | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        # Bedrock's versions are "DRAFT" or "1", "2", ...; YAML gives 1 as an int.
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("a version number starts at 1")
            return str(value)
        return value

    @field_validator("version")
    @classmethod
    def _version_form(cls, value: str) -> str:
        if value != "DRAFT" and not value.isdigit():
            raise ValueError('version is "DRAFT" or a number')
        return value

    @field_validator("content")
    @classmethod
    def _one_filter_per_type(cls, filters: list[ContentFilter]) -> list[ContentFilter]:
        types = [f.type for f in filters]
        if len(types) != len(set(types)):
            raise ValueError("each content filter type appears once")
        return filters

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def needs_embeddings(self) -> bool:
        return bool(self.topics) or self.grounding is not None
