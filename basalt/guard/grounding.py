"""Contextual grounding: how well an answer is supported by the source it was given, and how relevant it is to the
query. Both scores are in [0, 1]; the answer fails a check when its score is below the threshold.

Grounding: each answer sentence is scored by its best similarity to a passage of the source, lowered when it
states numbers the source does not contain (embeddings barely tell "$50" from "$500"); the answer's score is the
lowest sentence score, since one unsupported claim is enough to mislead. Relevance: the similarity of the query to
the answer's most relevant sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .semantic import Embedder, sentences

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_PENALTY = 0.5


@dataclass(frozen=True, slots=True)
class GroundingContext:
    """What the answer is checked against: the grounding source and, optionally, the user's query."""

    source: str
    query: str = ""


@dataclass(frozen=True, slots=True)
class GroundingScores:
    grounding: float
    relevance: float | None


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def score(embedder: Embedder, context: GroundingContext, answer: str) -> GroundingScores:
    claims = sentences(answer)
    passages = sentences(context.source, max_units=256)
    if not claims or not passages:
        return GroundingScores(1.0 if not claims else 0.0, None)
    vectors = embedder.embed(claims + passages + ([context.query] if context.query else []))
    claim_v, passage_v = vectors[: len(claims)], vectors[len(claims) : len(claims) + len(passages)]
    support = (claim_v @ passage_v.T).max(axis=1)
    known = _numbers(context.source) | _numbers(context.query)
    per_claim = []
    for claim, sim in zip(claims, support, strict=True):
        value = max(0.0, float(sim))
        if _numbers(claim) - known:
            value *= _NUMBER_PENALTY
        per_claim.append(value)
    relevance = None
    if context.query:
        relevance = max(0.0, float((claim_v @ vectors[-1]).max()))
    return GroundingScores(min(per_claim), relevance)
