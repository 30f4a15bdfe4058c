"""Content filters (hate, insults, sexual, violence, misconduct) and the prompt-attack filter: a confidence per
category from the phrase rules, with alt-profanity-check's model as a second opinion for insults and hate."""

from __future__ import annotations

from .lexicon import Hit, Lexicon, Text, confidence_of
from .profanity import ProfanityModel
from .prompt_attack import attack_score
from .rules import HATE, INSULTS, MISCONDUCT, SEXUAL, VIOLENCE
from .types import Confidence, Strength

LEXICONS = {
    "HATE": Lexicon(HATE),
    "INSULTS": Lexicon(INSULTS),
    "SEXUAL": Lexicon(SEXUAL),
    "VIOLENCE": Lexicon(VIOLENCE),
    "MISCONDUCT": Lexicon(MISCONDUCT),
}
# The profanity model flags swearing as readily as abuse ("this is fucking great"), so it only adds to rules that
# already matched (which also spares its cost on the texts that match none).
_MODEL_BOOST = {"INSULTS": 1.0, "HATE": 1.0}
_MODEL_THRESHOLD = 0.9
_RANK = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
# Bedrock's strengths: a HIGH filter blocks from LOW confidence up, MEDIUM from MEDIUM, LOW only HIGH.
_BLOCKS_FROM = {"HIGH": 1, "MEDIUM": 2, "LOW": 3, "NONE": 4}


def meets(confidence: Confidence, strength: Strength) -> bool:
    return _RANK[confidence] >= _BLOCKS_FROM[strength]


class ContentClassifier:
    def __init__(self, profanity: ProfanityModel | None) -> None:
        self._profanity = profanity

    def classify(self, category: str, text: Text) -> tuple[Confidence, list[Hit]]:
        score, hits = attack_score(text) if category == "PROMPT_ATTACK" else LEXICONS[category].score(text)
        boost = _MODEL_BOOST.get(category)
        wanted = boost and self._profanity is not None and score > 0
        if wanted and self._profanity is not None and self._profanity.probability(text.raw) >= _MODEL_THRESHOLD:
            score += boost or 0.0
        return confidence_of(score), hits
