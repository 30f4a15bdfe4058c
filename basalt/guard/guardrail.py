"""A guardrail compiled from its configuration: detectors built once, then `assess(text, source)` per text."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from .config import EntityFilter, GuardrailConfig, RegexFilter
from .content import ContentClassifier, meets
from .grounding import GroundingContext
from .grounding import score as grounding_score
from .lexicon import Text
from .pii import find_entities
from .profanity import ProfanityModel
from .semantic import Embedder
from .topics import TopicMatcher
from .types import Action, Assessment, Finding, Policy, PolicyAction, Source, Span
from .words import MANAGED_PROFANITY, WordMatcher


class Resources:
    """The models guardrails share, each loaded on first use: one per process is enough (the registry holds it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._profanity: ProfanityModel | None = None

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = Embedder()
            return self._embedder

    @property
    def profanity(self) -> ProfanityModel:
        with self._lock:
            if self._profanity is None:
                self._profanity = ProfanityModel()
            return self._profanity


@dataclass(slots=True)
class Detection:
    """What the detectors found in one text, before anything is masked or blocked."""

    findings: list[Finding] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return any(f.blocks for f in self.findings)


class Guardrail:
    def __init__(self, config: GuardrailConfig, resources: Resources | None = None) -> None:
        self.config = config
        res = resources or Resources()
        words = config.words
        self._custom = WordMatcher(words.words) if words else None
        self._managed = WordMatcher(MANAGED_PROFANITY, inflect=True) if words and words.managed_profanity else None
        info = config.sensitive_information
        self._entities: list[EntityFilter] = list(info.entities) if info else []
        self._regexes: list[tuple[RegexFilter, re.Pattern[str]]] = (
            [(r, re.compile(r.pattern)) for r in info.regexes] if info else []
        )
        wants_model = any(f.type in ("INSULTS", "HATE") for f in config.content)
        self._content = ContentClassifier(res.profanity if wants_model else None)
        self._topics = TopicMatcher(config.topics, res.embedder) if config.topics else None
        self._embedder = res.embedder if config.grounding is not None else None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def version(self) -> str:
        return self.config.version

    def blocked_message(self, source: Source) -> str:
        return self.config.blocked_input_message if source == "INPUT" else self.config.blocked_output_message

    def assess(self, text: str, source: Source, grounding: GroundingContext | None = None) -> Assessment:
        """Check one text. Blocked: the text becomes the blocked message; masked: each span becomes `{TYPE}`."""
        found = self.detect(text, source, grounding)
        if found.blocked:
            return Assessment(Action.INTERVENED, self.blocked_message(source), tuple(found.findings))
        masking = [s for s in found.spans if s.action == "ANONYMIZE"]
        if masking:
            return Assessment(Action.ANONYMIZED, mask(text, masking), tuple(found.findings), tuple(masking))
        return Assessment(Action.NONE, text, tuple(found.findings))

    def detect(self, text: str, source: Source, grounding: GroundingContext | None = None) -> Detection:
        out = Detection()
        if not text:
            return out
        t = Text(text)
        self._words(t, source, out)
        self._sensitive(text, source, out)
        self._content_filters(t, source, out)
        self._denied_topics(text, source, out)
        if grounding is not None and source == "OUTPUT":
            self._grounding(text, grounding, out)
        return out

    @property
    def has_grounding(self) -> bool:
        return self._embedder is not None

    def _words(self, t: Text, source: Source, out: Detection) -> None:
        action = self.config.words.action_for(source) if self.config.words else None
        if action is None:
            return
        for matcher, sub in ((self._custom, "customWords"), (self._managed, "managedWordLists")):
            if matcher is not None:
                for match in dict.fromkeys(matcher.find(t)):
                    out.findings.append(Finding(Policy.WORD, match, action, match=match, sub=sub))

    def _sensitive(self, text: str, source: Source, out: Detection) -> None:
        actions: dict[str, PolicyAction] = {}
        for e in self._entities:
            action = e.action_for(source)
            if action is not None:
                actions[e.type] = action
        if actions:
            for ent in find_entities(text, actions):
                action = actions[ent.kind]
                span = Span(ent.start, ent.end, ent.kind, action)
                out.spans.append(span)
                match = text[ent.start : ent.end]
                out.findings.append(Finding(Policy.SENSITIVE, ent.kind, action, match, "piiEntities", span=span))
        for regex, pattern in self._regexes:
            action = regex.action_for(source)
            if action is None:
                continue
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    span = Span(m.start(), m.end(), regex.name, action, regex=True)
                    out.spans.append(span)
                    out.findings.append(
                        Finding(
                            Policy.SENSITIVE, regex.name, action, m.group(), "regexes", pattern=regex.pattern, span=span
                        )
                    )

    def _content_filters(self, t: Text, source: Source, out: Detection) -> None:
        for f in self.config.content:
            strength = f.strength_for(source)
            if strength == "NONE":
                continue
            confidence, _ = self._content.classify(f.type, t)
            if confidence != "NONE" and meets(confidence, strength):
                out.findings.append(
                    Finding(Policy.CONTENT, f.type, f.action_for(source), confidence=confidence, strength=strength)
                )

    def _denied_topics(self, text: str, source: Source, out: Detection) -> None:
        if self._topics is None:
            return
        wanted = [t for t in self.config.topics if t.action_for(source) is not None]
        if not wanted:
            return
        for s in self._topics.scores(text, wanted):
            if s.detected:
                action = s.topic.action_for(source) or "NONE"
                out.findings.append(
                    Finding(Policy.TOPIC, s.topic.name, action, score=s.score, threshold=s.topic.threshold)
                )

    def _grounding(self, text: str, context: GroundingContext, out: Detection) -> None:
        policy = self.config.grounding
        if policy is None or self._embedder is None:
            return
        scores = grounding_score(self._embedder, context, text)
        checks: list[tuple[str, float | None, float | None]] = [
            ("GROUNDING", policy.grounding_threshold, scores.grounding),
            ("RELEVANCE", policy.relevance_threshold, scores.relevance),
        ]
        for kind, threshold, value in checks:
            if threshold is not None and value is not None and value < threshold:
                out.findings.append(
                    Finding(Policy.GROUNDING, kind, policy.action, score=round(value, 4), threshold=threshold)
                )


def mask(text: str, spans: list[Span]) -> str:
    """Replace each span with its placeholder; overlapping spans (an entity inside a regex match) merge."""
    parts: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.start < pos:
            pos = max(pos, span.end)
            continue
        parts += [text[pos : span.start], span.placeholder]
        pos = span.end
    parts.append(text[pos:])
    return "".join(parts)
