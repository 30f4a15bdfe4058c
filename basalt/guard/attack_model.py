"""The learned half of the prompt-attack filter: a logistic regression over word unigrams and bigrams, read in
windows of WINDOW words, the text scored by its most attack-like window (an injection is a few sentences inside
a long, ordinary document; a whole-text average would drown it).

The weights (attack_model.json, beside this file) were trained by bench/train_attack_model.py on sources that are
not evaluation sets (bench/attack_corpus.py), and its two thresholds set on a validation split of them (the
scores that 1% and 0.2% of validation benign texts exceed), never on a test source. Pure Python: one regex pass
and two dictionary lookups a word, linear in the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from itertools import accumulate, chain, pairwise, repeat
from operator import add, sub
from pathlib import Path

from .lexicon import WORD

WEIGHTS = Path(__file__).with_name("attack_model.json")


def tokens(text: str) -> list[str]:
    """The words the content filters read (lexicon.WORD: ASCII letters, digits, apostrophes; an accented letter
    splits a word, the same way in training), so within a guardrail they come from the Text already read."""
    return WORD.findall(text.lower())


def bigrams(words: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(words)]


@dataclass(frozen=True, slots=True)
class AttackModel:
    weights: dict[str, float]
    bias: float
    window: int
    low: float  # the logit 1% of validation benign texts exceed
    high: float  # the logit 0.2% exceed

    def logit(self, text: str) -> float:
        return self.logit_of(tokens(text))

    def logit_of(self, words: list[str]) -> float:
        """The bias plus the weights of the window of `window` words that sums highest (or of the whole text).
        A word carries its own weight and that of the bigram it ends, so a window also counts the one pair that
        crosses its start (training counts the pairs inside it: a difference of one feature, which the
        thresholds, set with this function, take in). Written as maps over the words, so the loop runs in C:
        about 1 us a word."""
        if not words:
            return self.bias
        get = self.weights.get
        own = map(get, words, repeat(0.0))
        pairs = chain((0.0,), map(get, bigrams(words), repeat(0.0)))
        sums = list(accumulate(map(add, own, pairs), initial=0.0))
        size = min(self.window, len(words))
        return self.bias + float(max(map(sub, sums[size:], sums[: len(sums) - size])))

    def points(self, words: list[str]) -> float:
        """What the model adds to the rules' score: 1 above the low threshold (a HIGH-strength filter blocks),
        2 above the high one (MEDIUM blocks too); LOW strength still needs a rule."""
        z = self.logit_of(words)
        return 2.0 if z >= self.high else 1.0 if z >= self.low else 0.0


@cache
def attack_model() -> AttackModel:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    return AttackModel(
        weights={k: float(v) for k, v in data["weights"].items()},
        bias=float(data["bias"]),
        window=int(data["window"]),
        low=float(data["thresholds"]["low"]),
        high=float(data["thresholds"]["high"]),
    )
