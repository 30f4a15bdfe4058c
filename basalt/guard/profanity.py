"""alt-profanity-check's model (TF-IDF + five calibrated linear SVMs, shipped in its wheel), evaluated directly.

Its own `predict_prob` goes through scikit-learn's pipeline and costs about 6 ms a call, three times the whole
text-policy budget; the same arithmetic over a dict of per-word weights costs tens of microseconds and gives
the same probabilities (tests/guard/test_content.py checks them against the package).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # the vectorizer's token_pattern


class ProfanityModel:
    def __init__(self) -> None:
        import joblib  # the package's pickles need scikit-learn; loaded once, here only
        import profanity_check

        data = Path(profanity_check.__file__).parent / "data"
        vectorizer = joblib.load(data / "vectorizer.joblib")
        model = joblib.load(data / "model.joblib")
        idf = vectorizer.idf_
        folds = model.calibrated_classifiers_
        coefs = [f.estimator.coef_[0] for f in folds]
        self._intercepts = [float(f.estimator.intercept_[0]) for f in folds]
        self._sigmoids = [(float(f.calibrators[0].a_), float(f.calibrators[0].b_)) for f in folds]
        self._weights: dict[str, tuple[float, tuple[float, ...]]] = {
            word: (float(idf[i]), tuple(float(c[i]) for c in coefs)) for word, i in vectorizer.vocabulary_.items()
        }

    def probability(self, text: str) -> float:
        """The probability that the text is offensive (profanity, insults), as alt-profanity-check computes it."""
        counts = Counter(_TOKEN.findall(text.lower()))
        sums = [0.0] * len(self._intercepts)
        norm = 0.0
        for word, n in counts.items():
            entry = self._weights.get(word)
            if entry is None:
                continue
            value = n * entry[0]
            norm += value * value
            for k, coef in enumerate(entry[1]):
                sums[k] += value * coef
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        total = 0.0
        for k, (a, b) in enumerate(self._sigmoids):
            decision = sums[k] * scale + self._intercepts[k]
            total += 1.0 / (1.0 + math.exp(a * decision + b))
        return total / len(self._sigmoids)
