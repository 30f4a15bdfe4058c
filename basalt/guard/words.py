"""Word filters: the configured words and phrases, and the managed profanity list, matched whole-word."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .lexicon import MAX_PREFIX, WORD, Text, register_triggers

_INFLECTIONS = r"(?:s|es|ed|er|ers|ing|in)?"


# The managed profanity list: common English profanity and obscenity, matched whole-word and case-insensitively with
# the usual inflections (s, es, ed, er, ers, ing, in). Kept in code so it ships with the package as is.
MANAGED_PROFANITY = (
    "anal",
    "arse",
    "arsehole",
    "ass",
    "asshat",
    "asshole",
    "bastard",
    "bellend",
    "bitch",
    "bitchy",
    "blowjob",
    "bollocks",
    "boner",
    "bugger",
    "bullshit",
    "butthole",
    "clit",
    "cock",
    "cocksucker",
    "crap",
    "cum",
    "cunt",
    "damn",
    "dick",
    "dickhead",
    "dildo",
    "douche",
    "douchebag",
    "dumbass",
    "fag",
    "faggot",
    "fuck",
    "fucker",
    "fuckface",
    "fuckhead",
    "fucking",
    "fuckwit",
    "goddamn",
    "handjob",
    "horseshit",
    "jackass",
    "jerkoff",
    "jizz",
    "kike",
    "motherfucker",
    "motherfucking",
    "nigga",
    "nigger",
    "piss",
    "pissed",
    "prick",
    "pussy",
    "retard",
    "schlong",
    "scumbag",
    "shit",
    "shithead",
    "shitty",
    "slut",
    "spic",
    "twat",
    "wank",
    "wanker",
    "whore",
)


class WordMatcher:
    """One alternation for all entries, longest first so a phrase wins over a word inside it; the spaces of a
    phrase match any run of whitespace."""

    def __init__(self, entries: Iterable[str], inflect: bool = False) -> None:
        alts = sorted({e.strip() for e in entries if e.strip()}, key=len, reverse=True)
        # The regex runs only when some entry's first word starts a word of the text: one set test per text.
        # Inflected entries gate on prefixes ("fuck" opens "fucking"); exact ones on whole words.
        gates = [WORD.findall(e.lower()) for e in alts]
        self._inflect = inflect
        self._gates = frozenset(g[0][:MAX_PREFIX] if inflect else g[0] for g in gates if g)
        self._ungated = any(not g for g in gates)
        if inflect:
            register_triggers(self._gates)
        body = "|".join(r"\s+".join(re.escape(w) for w in e.split()) for e in alts)
        suffix = _INFLECTIONS if inflect else ""
        self._pattern = re.compile(rf"(?<!\w)(?:{body}){suffix}(?!\w)", re.IGNORECASE) if alts else None

    def find(self, text: Text) -> list[str]:
        present = text.prefixes if self._inflect else text.words
        if self._pattern is None or not (self._ungated or not self._gates.isdisjoint(present)):
            return []
        return [m.group() for m in self._pattern.finditer(text.raw)]
