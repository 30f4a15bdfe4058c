"""The prompt-attack filter: the attack rules, in every language they are written in, tried on every view of the
text (normalize.views), each rule counted once however many views it matches."""

from __future__ import annotations

from .attacks import PROMPT_ATTACK
from .attacks_i18n import MULTILINGUAL
from .lexicon import Hit, Lexicon, Text
from .normalize import views

LEXICON = Lexicon((*PROMPT_ATTACK, *MULTILINGUAL))


def attack_hits(text: Text) -> list[Hit]:
    found: dict[int, Hit] = {}
    for view in views(text.raw):
        for hit in LEXICON.hits(text if view == text.raw else Text(view)):
            found.setdefault(id(hit.rule), hit)
    return list(found.values())


def attack_score(text: Text) -> tuple[float, list[Hit]]:
    hits = attack_hits(text)
    return float(sum(h.rule.weight for h in hits)), hits
