"""The words a regex cannot match without: a cheap test that rules a rule out before its regex scans the text.

`required(pattern)` reads the parsed pattern and returns clauses, each a set of lower-case ASCII strings of which
any match must contain at least one ("ignore|disregard ... instructions?|rules" gives {ignore, disregard} and
{instruction, rules}). A text whose lower-case form misses every string of some clause cannot match, so the regex
is not run: a few substring tests (C speed) instead of a scan of the whole text per rule. The clauses are only
ever a necessary condition: a construct this module does not read contributes no clause, never a wrong one, so a
rule is skipped only where its regex would have found nothing.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

Clause = frozenset[str]
# A clause as it is tested: its strings made of word characters (looked up in the text's distinct words joined,
# a shorter string than the text), then the others ("do not follow"), each with its longest word ("follow"),
# which is looked up among the words first (the string cannot occur without it).
Need = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
_WORDLIKE = re.compile(r"[a-z0-9']+")  # lexicon.WORD: a string of these lies inside one of the text's words
MIN_LITERAL = 3  # a clause holding a shorter string ("a", " ") is true of nearly every text: not worth a test

# The only characters outside ASCII that the regex engine, ignoring case, matches to ASCII ones (found by
# matching printable ASCII against every code point; tests/guard/test_literals.py checks it still holds). Read as
# those letters before lower-casing, so a text spelled with them is still seen to contain the word.
_REGEX_CASE_ALIASES = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def has_case_aliases(text: str) -> bool:
    return not text.isascii() and any(c in text for c in "\u0130\u0131\u017f\u212a")


def searchable(text: str) -> str:
    """The text as the clauses are tested on: lower case, with the regex engine's case aliases resolved. It
    has the text's length, character for character: U+0130 is the one character whose lower case is two, and it
    is an alias (tests/guard/test_literals.py checks both)."""
    return text.translate(_REGEX_CASE_ALIASES).lower() if has_case_aliases(text) else text.lower()


def required(pattern: str) -> tuple[Need, ...]:
    """Clauses (see the module doc), rarest-looking first: longer shortest strings, then fewer strings."""
    try:
        parsed = _parser.parse(pattern)
    except re.error:
        return ()
    clauses = {c for c in _sequence(list(parsed))[1] if c and min(map(len, c)) >= MIN_LITERAL}
    ordered = sorted(clauses, key=lambda c: (-min(map(len, c)), len(c), sorted(c)))
    return tuple(_split(c) for c in ordered)


def _split(clause: Clause) -> Need:
    """A string with spaces around a word (" instruction") is looked up as the word: a weaker test, as sound."""
    words: set[str] = set()
    others: set[tuple[str, str]] = set()
    for s in clause:
        word = s.strip(" ")
        if len(word) >= MIN_LITERAL and _WORDLIKE.fullmatch(word):
            words.add(word)
        else:
            longest = max(_WORDLIKE.findall(s), key=len, default="")
            others.add((longest if len(longest) >= MIN_LITERAL else "", s))
    return tuple(sorted(words)), tuple(sorted(others))


def satisfied(needs: tuple[Need, ...], low: str, vocabulary: str) -> bool:
    """Whether every clause has a string in the text: `low` is the text as `searchable` makes it, `vocabulary`
    its distinct words joined by spaces (or `low` itself, where the words do not hold every word string)."""
    return all(
        any(s in vocabulary for s in words) or any((not w or w in vocabulary) and s in low for w, s in others)
        for words, others in needs
    )


def leading(pattern: str) -> Clause:
    """The strings (lower case) one of which every match starts with, or none where that is not known."""
    try:
        leads = _leads(list(_parser.parse(pattern)))
    except re.error:
        return frozenset()
    return leads if leads and min(map(len, leads)) >= MIN_LITERAL else frozenset()


def search(pattern: re.Pattern[str], text: str, low: str, leads: Clause) -> re.Match[str] | None:
    """`pattern.search(text)`, trying only where one of `leads` occurs in `low` (`searchable(text)`, aligned
    with it): a match can start nowhere else, and the first one found is the one search would find, since
    positions are tried in order and an attempt at a position reads the text before it as search does."""
    if not leads or len(low) != len(text):
        return pattern.search(text)
    # The first _MAX_STARTS + 1 of each lead hold the first _MAX_STARTS + 1 of all: the work stays linear.
    starts = sorted({i for lead in leads for i in _occurrences(low, lead, _MAX_STARTS + 1)})
    for i in starts[:_MAX_STARTS]:
        m = pattern.match(text, i)
        if m is not None:
            return m
    return pattern.search(text, starts[_MAX_STARTS]) if len(starts) > _MAX_STARTS else None


_MAX_STARTS = 32  # past this many starts, one scan from the next is cheaper than an attempt at each


def _occurrences(low: str, lead: str, limit: int) -> list[int]:
    out: list[int] = []
    i = low.find(lead)
    while i >= 0 and len(out) < limit:
        out.append(i)
        i = low.find(lead, i + 1)
    return out


def _leads(items: list[tuple[Any, Any]]) -> Clause:
    """Leads of a sequence: zero-width openings (\\b, ^, lookarounds) are stepped over, then the first item
    that consumes text gives them; an item that may match nothing, or that is not a literal, gives none."""
    run = ""
    for op, av in items:
        if op is sre.LITERAL and av < 128:
            run += chr(av).lower()
            continue
        if run:
            after = _leads([(op, av)]) if op in (sre.BRANCH, sre.SUBPATTERN) else frozenset()
            return frozenset(run + a for a in after) if after else frozenset((run,))
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue
        if op is sre.SUBPATTERN:
            return _leads(list(av[3]))
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] >= 1:
            return _leads(list(av[2]))
        if op is sre.BRANCH:
            alternatives = [_leads(list(alt)) for alt in av[1]]
            return frozenset().union(*alternatives) if all(alternatives) else frozenset()
        return frozenset()
    return frozenset((run,)) if run else frozenset()


def _sequence(items: list[tuple[Any, Any]]) -> tuple[str | None, list[Clause]]:
    """(the literal string the sequence always matches, if that is all it is; the clauses it implies)."""
    clauses: list[Clause] = []
    run = ""
    pure = True
    for op, av in items:
        if op is sre.BRANCH and run:
            options = [_sequence(list(alt))[0] for alt in av[1]]
            if all(o is not None for o in options):  # "pr" + (evious|ior), as the parser factors it
                clauses.append(frozenset(run + (o or "") for o in options))
                run, pure = "", False
                continue
        literal, inner = _item(op, av)
        if literal is not None:
            run += literal
            continue
        pure = False
        if run:
            clauses.append(frozenset((run,)))
        run = ""
        clauses += inner
    if pure:
        return run, [frozenset((run,))] if run else []
    if run:
        clauses.append(frozenset((run,)))
    return None, clauses


def _item(op: Any, av: Any) -> tuple[str | None, list[Clause]]:
    if op is sre.LITERAL:
        return (chr(av).lower(), []) if av < 128 else (None, [])
    if op is sre.SUBPATTERN:
        return _sequence(list(av[3]))
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        low, _high, body = av
        return (None, _sequence(list(body))[1]) if low >= 1 else (None, [])
    if op is sre.BRANCH:
        return None, _branch(av[1])
    return None, []  # classes, anchors, lookarounds, backreferences: no string they must contain


def _branch(alternatives: list[Any]) -> list[Clause]:
    """One clause: an alternative's best clause, joined over all alternatives (none if one has no clause)."""
    joined: set[str] = set()
    for alt in alternatives:
        clauses = _sequence(list(alt))[1]
        usable = [c for c in clauses if min(map(len, c)) >= MIN_LITERAL]
        if not usable:
            return []
        joined |= max(usable, key=lambda c: (min(map(len, c)), -len(c)))
    return [frozenset(joined)]
