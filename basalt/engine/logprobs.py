"""Log-probabilities from a logits row: the model's own distribution over its vocabulary at one position.

What is reported is the model's distribution (a log-softmax of the raw logits), before temperature, top-k/top-p,
penalties or a grammar shape the sampling, as OpenAI reports it: the same text scores the same whatever the sampler.
Computed only for sequences that ask (the engine skips all of this otherwise), in float64 so that a sum over a long
continuation keeps its precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TokenLogprob:
    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()  # the `k` most likely tokens there and their log-probabilities, best first


def token_logprob(row: np.ndarray[Any, np.dtype[np.float32]], token: int, k: int) -> TokenLogprob:
    """`token`'s log-probability under the logits `row`, and the `k` most likely alternatives."""
    x = row.astype(np.float64)
    peak = float(x.max())
    log_total = peak + math.log(float(np.exp(x - peak).sum()))
    top: tuple[tuple[int, float], ...] = ()
    if k > 0:
        best = np.argpartition(x, -k)[-k:]
        best = best[np.argsort(-x[best], kind="stable")]
        top = tuple((int(t), float(x[t]) - log_total) for t in best)
    return TokenLogprob(token, float(x[token]) - log_total, top)
