"""Weighted phrase rules, gated by trigger words so a long text costs one tokenization, not one scan per rule.

A rule is a regex with a weight (1 weak, 2 clear, 3 unambiguous) and the words that must appear for it to be
tried; a trigger matches any word it begins ("kill" also gates "killing", "killers"). A text's score in a
category is the sum of the weights of the distinct rules that match, mapped to a Bedrock confidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from .literals import Clause, Need, has_case_aliases, leading, required, satisfied, search, searchable
from .types import Confidence

WORD = re.compile(r"[a-z0-9']+")
MAX_PREFIX = 10


class Text:
    """A text and its lower-cased words, computed once and shared by every policy that reads them."""

    __slots__ = ("__dict__", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw

    @cached_property
    def lower(self) -> str:
        return self.raw.lower()

    @cached_property
    def searchable(self) -> str:
        """`lower` as literals.satisfied reads it (the same string unless the text holds a case alias)."""
        return searchable(self.raw) if has_case_aliases(self.raw) else self.lower

    @cached_property
    def vocabulary(self) -> str:
        """The distinct words joined by spaces: a string of word characters occurs in the text only inside a
        word, so it is looked up here, in a string several times shorter than a long text. The regex engine's
        case aliases (the long s, the dotless i) are not word characters: in a text with one, it is the text."""
        return " ".join(self.words) if self.searchable is self.lower else self.searchable

    @cached_property
    def tokens(self) -> list[str]:
        """The words in order (the prompt-attack scorer reads them in windows)."""
        return WORD.findall(self.lower)

    @cached_property
    def words(self) -> frozenset[str]:
        return frozenset(self.tokens)

    @cached_property
    def prefixes(self) -> frozenset[str]:
        """The words and their prefixes (3 to 10 letters), so a trigger test is one set lookup. Only words that
        begin like some trigger get their prefixes taken: most words of a text ("the", "with") begin like none."""
        starts = _TRIGGER_STARTS
        return self.words | frozenset(
            w[:n] for w in self.words if w[:3] in starts for n in range(3, min(len(w), MAX_PREFIX) + 1)
        )


# The first three letters of every trigger in use, filled in as lexicons and word lists are built (they are
# built from fixed data, at import or when a guardrail is compiled): Text.prefixes skips every other word.
_TRIGGER_STARTS: set[str] = set()


def register_triggers(triggers: Iterable[str]) -> None:
    _TRIGGER_STARTS.update(t[:3] for t in triggers)


@dataclass(frozen=True, slots=True)
class Rule:
    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    weight: float
    needs: tuple[Need, ...] = ()  # strings its matches contain (literals.required): the regex runs only then
    leads: Clause = frozenset()  # strings its matches start with (literals.leading): it is tried only there


def rule(triggers: str, pattern: str, weight: float) -> Rule:
    compiled = re.compile(_with_lead(pattern), re.IGNORECASE)
    return Rule(tuple(triggers.split()), compiled, weight, required(compiled.pattern), leading(compiled.pattern))


def _with_lead(pattern: str) -> str:
    """A pattern that opens with a word alternation, r"\\b(?:ignore|forget|...)", gets a lookahead for the letters its
    words start with: the regex engine then skips every other position at once instead of trying each word
    there (3x faster over 4 KB of prose). Any other opening is left as it is."""
    opening = "\\b(?:"
    if not pattern.startswith(opening):
        return pattern
    firsts: set[str] = set()
    depth, start, i = 0, True, len(opening)
    while i < len(pattern):
        c = pattern[i]
        if start:
            if not c.isalpha():
                return pattern
            firsts.add(c.lower())
            start = False
        if c == "\\":
            i += 2
            continue
        if c == "[":
            return pattern  # a class could hold "|" or ")": not worth parsing
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return f"(?=[{''.join(sorted(firsts))}])" + pattern
            depth -= 1
        elif c == "|" and depth == 0:
            start = True
        i += 1
    return pattern


@dataclass(frozen=True, slots=True)
class Hit:
    rule: Rule
    match: str


def confidence_of(score: float) -> Confidence:
    if score >= 3:
        return "HIGH"
    if score >= 2:
        return "MEDIUM"
    return "LOW" if score >= 1 else "NONE"


class Lexicon:
    """Word triggers gate on the text's word prefixes; a trigger that is not a word ("<|", "![", "```") gates on
    its occurring anywhere in the lower-cased text, for rules about markup rather than words."""

    def __init__(self, rules: Iterable[Rule], spelled: Callable[[str], str] = str) -> None:
        """`spelled` rewrites each trigger (prompt_attack gates a rot13 view on the text's own words by
        indexing the rules under their triggers rot13-encoded)."""
        self._by_trigger: dict[str, list[Rule]] = {}
        self._by_substring: dict[str, list[Rule]] = {}
        # The markup triggers by a character of theirs outside [a-z0-9'] ("<" for "<|"): one test of that
        # character rules them all out on a text without it (most texts have no "<", "[", "#", "`").
        self._by_mark: dict[str, list[str]] = {}
        for r in rules:
            for t in map(spelled, r.triggers):
                if WORD.fullmatch(t):
                    self._by_trigger.setdefault(t[:MAX_PREFIX], []).append(r)
                else:
                    self._by_substring.setdefault(t, []).append(r)
        for t in self._by_substring:
            self._by_mark.setdefault(next(c for c in t if not WORD.fullmatch(c)), []).append(t)
        register_triggers(self._by_trigger)

    def hits(self, text: Text, gate: Text | None = None) -> list[Hit]:
        """The rules that match `text`, of those whose triggers occur in `gate` (the text itself by default).
        With another gate, the text's own words are never computed: its strings are looked up in the text."""
        candidates: dict[int, Rule] = {}
        gating = gate or text
        for trigger in self._by_trigger.keys() & gating.prefixes:
            for r in self._by_trigger[trigger]:
                candidates[id(r)] = r
        low = gating.lower
        for mark, subs in self._by_mark.items():
            if mark in low:
                for sub in subs:
                    if sub in low:
                        candidates.update((id(r), r) for r in self._by_substring[sub])
        out = []
        vocabulary = text.vocabulary if gate is None else text.searchable
        for r in candidates.values():
            if r.needs and not satisfied(r.needs, text.searchable, vocabulary):
                continue  # a string every match contains is absent: the regex could not match
            m = search(r.pattern, text.raw, text.searchable, r.leads)  # they ignore case unless they say (?-i:)
            if m is not None:
                out.append(Hit(r, m.group()))
        return out

    def score(self, text: Text) -> tuple[float, list[Hit]]:
        hits = self.hits(text)
        return float(sum(h.rule.weight for h in hits)), hits
