"""The prompt-attack filter: the attack rules, in every language they are written in, tried on every view of the
text (normalize.views), each rule counted once however many views it matches."""

from __future__ import annotations

from .attacks import PROMPT_ATTACK
from .attacks_i18n import MULTILINGUAL
from .lexicon import Hit, Lexicon, Text
from .normalize import rot13, single_spaced, views

LEXICON = Lexicon((*PROMPT_ATTACK, *MULTILINGUAL))
# The same rules under their triggers rot13-encoded, to gate an ASCII text's rot13 view on the text itself.
ROT13_GATED = Lexicon((*PROMPT_ATTACK, *MULTILINGUAL), spelled=rot13)


def attack_hits(text: Text) -> list[Hit]:
    found: dict[int, Hit] = {}
    # An ASCII text's rot13 view is its lower-cased text with every letter moved: its words are the text's words
    # moved the same way (the word pattern reads letters, digits and apostrophes, which rot13 keeps apart), and
    # a markup trigger occurs in it where the trigger encoded occurs in the text. So a trigger occurs in the view
    # exactly where its rot13 encoding occurs in the text, and the view is gated on the text, already read,
    # instead of being tokenized itself (rot13 trigger beginnings are registered, so the text's word prefixes
    # hold them).
    rotated = rot13(single_spaced(text.raw).lower()) if text.raw.isascii() else None
    for view in views(text.raw):
        if view == text.raw:
            hits = LEXICON.hits(text)
        elif view == rotated:
            hits = ROT13_GATED.hits(Text(view), gate=text)
        else:
            hits = LEXICON.hits(Text(view))
        for hit in hits:
            found.setdefault(id(hit.rule), hit)
    return list(found.values())


def attack_score(text: Text) -> tuple[float, list[Hit]]:
    hits = attack_hits(text)
    return float(sum(h.rule.weight for h in hits)), hits
