"""The prompt-attack filter: the attack rules, in every language they are written in, tried on every view of the
text (normalize.views), each rule counted once however many views it matches; then the learned scorer
(attack_model.py), which reads the text as written for what the phrase rules miss (injections phrased as ordinary
prose inside documents and tool output)."""

from __future__ import annotations

from .attack_model import attack_model
from .attacks import PROMPT_ATTACK
from .attacks_i18n import MULTILINGUAL
from .lexicon import Hit, Lexicon, Text
from .normalize import rot13, views_and_folded

LEXICON = Lexicon((*PROMPT_ATTACK, *MULTILINGUAL))
# The same rules under their triggers rot13-encoded, to gate the rot13 view on the folded text (_rot13_gate).
ROT13_GATED = Lexicon((*PROMPT_ATTACK, *MULTILINGUAL), spelled=rot13)


def attack_hits(text: Text) -> list[Hit]:
    found: dict[int, Hit] = {}
    all_views, folded = views_and_folded(text.raw)
    rotated = rot13(folded)
    read: dict[str, Text] = {text.raw: text}
    for view in all_views:
        gate = _rot13_gate(text, folded, read) if view == rotated else None
        if gate is not None:
            hits = ROT13_GATED.hits(Text(view), gate)
        else:
            hits = LEXICON.hits(read.setdefault(view, Text(view)))
        for hit in hits:
            found.setdefault(id(hit.rule), hit)
    return list(found.values())


def _rot13_gate(text: Text, folded: str, read: dict[str, Text]) -> Text | None:
    """The text the rot13 view can be gated on, when one is at hand. The view is the folded text with every
    letter moved: where that text is lower case, its words moved the same way are the view's words (the word
    pattern reads letters, digits and apostrophes, which rot13 keeps apart), and a markup trigger occurs in the
    view where the trigger encoded occurs in it. So a trigger occurs in the view exactly where its encoding
    occurs in the folded text, already read, and the view need not be tokenized (rot13 trigger beginnings are
    registered, so word prefixes hold them). An ASCII text stands for its folded text: they differ only in case
    and runs of blanks, which change no word and hold no trigger."""
    if text.raw.isascii():
        return text
    gate = read.get(folded)
    return gate if gate is not None and gate.lower == gate.raw else None


def attack_score(text: Text) -> tuple[float, list[Hit]]:
    hits = attack_hits(text)
    score = float(sum(h.rule.weight for h in hits))
    if score < 3:  # the rules' score is already HIGH confidence from 3: the model could not raise it
        score += attack_model().points(text.tokens)
    return score, hits
