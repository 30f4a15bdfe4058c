"""Denied topics by semantic similarity: a text is on a topic when one of its sentences (or the whole text, when
short) comes within the topic's threshold of the topic's definition or one of its examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DeniedTopic
from .semantic import Embedder, Vectors, sentences

_WHOLE_TEXT_CHARS = 1000  # below this the whole text is one more unit: a topic can span sentences


@dataclass(frozen=True, slots=True)
class TopicScore:
    topic: DeniedTopic
    score: float

    @property
    def detected(self) -> bool:
        return self.score >= self.topic.threshold


class TopicMatcher:
    def __init__(self, topics: list[DeniedTopic], embedder: Embedder) -> None:
        self._topics = topics
        self._embedder = embedder
        refs: list[str] = []
        self._owner: list[int] = []
        for i, topic in enumerate(topics):
            for ref in [f"{topic.name}: {topic.definition}", *topic.examples]:
                refs.append(ref)
                self._owner.append(i)
        self._refs: Vectors = embedder.embed(refs)
        self._owner_arr = np.asarray(self._owner)

    def scores(self, text: str, topics: list[DeniedTopic] | None = None) -> list[TopicScore]:
        """The best similarity of the text to each topic (only those given, by default all)."""
        units = sentences(text)
        if len(text) <= _WHOLE_TEXT_CHARS and len(units) > 1:
            units.append(text)
        if not units:
            return []
        sims = self._embedder.embed(units) @ self._refs.T  # units x refs
        best = sims.max(axis=0)
        wanted = topics if topics is not None else self._topics
        out = []
        for i, topic in enumerate(self._topics):
            if topic in wanted:
                out.append(TopicScore(topic, float(best[self._owner_arr == i].max())))
        return out
