"""Text similarity between an output and a reference, each from a maintained library, every score in [0, 1]:
BLEU (sacrebleu, sentence-level with effective order), GLEU and METEOR (nltk), ROUGE-1..5 and ROUGE-L F-measure
(rouge-score), fuzzy match (rapidfuzz's normalised Indel ratio), and cosine on the bundled all-MiniLM-L6-v2
sentence embeddings (guard.semantic.Embedder, loaded offline on first use).

METEOR: nltk matches exact words, stems and WordNet synonyms; WordNet's data is not bundled (nothing is fetched), so
the synonym stage matches nothing and the score is METEOR over exact and stem matches.

All of it is CPU work: call `scores` off the event loop. Texts are cut to MAX_CHARS first (ROUGE-L is quadratic).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

METRICS = (
    "fuzzy_match", "bleu", "gleu", "meteor", "cosine",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
)  # fmt: skip
MAX_CHARS = 20_000
_WORD = re.compile(r"\w+|[^\w\s]")
_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def _once(name: str, make: Callable[[], Any]) -> Any:
    found = _loaded.get(name)
    if found is None:
        with _lock:
            found = _loaded.get(name)
            if found is None:
                found = _loaded[name] = make()
    return found


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def fuzzy_match(text: str, reference: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.ratio(text, reference)) / 100.0


def bleu(text: str, reference: str) -> float:
    from sacrebleu.metrics.bleu import BLEU

    scorer = _once("bleu", lambda: BLEU(effective_order=True))
    return float(scorer.sentence_score(text, [reference]).score) / 100.0


def gleu(text: str, reference: str) -> float:
    from nltk.translate.gleu_score import sentence_gleu

    hypothesis, ref = _words(text), _words(reference)
    if not hypothesis or not ref:
        return 1.0 if hypothesis == ref else 0.0
    return float(sentence_gleu([ref], hypothesis))


class _NoWordNet:
    """What nltk's METEOR asks of WordNet, answered with no synonyms (see the module's note)."""

    def synsets(self, *_: Any, **__: Any) -> list[Any]:
        return []


def meteor(text: str, reference: str) -> float:
    from nltk.stem.porter import PorterStemmer
    from nltk.translate.meteor_score import single_meteor_score

    hypothesis, ref = _words(text.lower()), _words(reference.lower())
    if not hypothesis or not ref:
        return 1.0 if hypothesis == ref else 0.0
    stemmer = _once("stemmer", PorterStemmer)
    return float(single_meteor_score(ref, hypothesis, stemmer=stemmer, wordnet=_NoWordNet()))


def rouge(kind: str, text: str, reference: str) -> float:
    """`kind` is rouge1..rouge5 or rougeL; the F-measure."""
    from rouge_score import rouge_scorer

    scorer = _once(kind, lambda: rouge_scorer.RougeScorer([kind]))
    return float(scorer.score(reference, text)[kind].fmeasure)


def _embedder() -> Any:
    from ..guard.semantic import Embedder

    return _once("embedder", Embedder)


def cosine_many(pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Cosine similarity of each pair's embeddings (unit vectors: a dot product), in one pass of the model."""
    if not pairs:
        return []
    vectors = _embedder().embed([t for pair in pairs for t in pair])
    return [max(0.0, min(1.0, float(vectors[2 * i] @ vectors[2 * i + 1]))) for i in range(len(pairs))]


def similarity(metric: str, text: str, reference: str) -> float:
    """One pair's score under `metric` (one of METRICS)."""
    return scores(metric, [(text, reference)])[0]


def scores(metric: str, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Each (output, reference) pair's score under `metric`; a ValueError for a metric not in METRICS."""
    cut = [(a[:MAX_CHARS], b[:MAX_CHARS]) for a, b in pairs]
    if metric == "cosine":
        return cosine_many(cut)
    one: Callable[[str, str], float]
    if metric.startswith("rouge_"):
        kind = "rougeL" if metric == "rouge_l" else "rouge" + metric[-1]
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        return [rouge(kind, a, b) for a, b in cut]
    one = {"fuzzy_match": fuzzy_match, "bleu": bleu, "gleu": gleu, "meteor": meteor}.get(metric)  # type: ignore[assignment]
    if one is None:
        raise ValueError(f"unknown metric {metric!r}")
    return [one(a, b) for a, b in cut]
