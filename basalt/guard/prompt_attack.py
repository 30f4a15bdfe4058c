"""The prompt-attack filter: the attack rules, in every language they are written in, tried on every view of the
text (normalize.views), each rule counted once however many views it matches."""

from __future__ import annotations

from .attacks import PROMPT_ATTACK
from .attacks_i18n import MULTILINGUAL
from .lexicon import Hit, Lexicon, Text
from .normalize import rot13, single_spaced, views

LEXICON = Lexicon((*PROMPT_ATTACK, *MULTILINGUAL))


def attack_hits(text: Text) -> list[Hit]:
    found: dict[int, Hit] = {}
    # An ASCII text's rot13 view is its lower-cased text with every letter moved: its words are the text's words
    # moved the same way (the word pattern reads letters, digits and apostrophes, which rot13 keeps apart), so
    # they are derived from the words already found instead of tokenizing the view again.
    rotated = rot13(single_spaced(text.raw).lower()) if text.raw.isascii() else None
    for view in views(text.raw):
        if view == text.raw:
            t = text
        elif view == rotated:
            t = Text(view, frozenset(rot13(w) for w in text.words))
        else:
            t = Text(view)
        for hit in LEXICON.hits(t):
            found.setdefault(id(hit.rule), hit)
    return list(found.values())


def attack_score(text: Text) -> tuple[float, list[Hit]]:
    hits = attack_hits(text)
    return float(sum(h.rule.weight for h in hits)), hits
