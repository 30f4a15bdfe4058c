"""Log-probabilities from a logits row: the model's own distribution over its vocabulary at one position.

What is reported is the model's distribution (a log-softmax of the raw logits), before temperature, top-k/top-p,
penalties or a grammar shape the sampling, as OpenAI reports it: the same text scores the same whatever the sampler.
Computed only for sequences that ask (the engine skips all of this otherwise), the normalizer summed in float64 so
that a sum over a long continuation keeps its precision.
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


_BLOCK = 32  # rows a prompt's positions are scored in at once: a few MB of temporaries, not a whole chunk's


def block_logprobs(rows: np.ndarray[Any, np.dtype[np.float32]], tokens: list[int], k: int) -> list[TokenLogprob]:
    """`tokens[i]`'s log-probability under `rows[i]` for each i, and the `k` most likely alternatives: a prompt's
    positions, vectorized (a row at a time cost ~0.3 ms of the engine thread per position)."""
    out: list[TokenLogprob] = []
    for start in range(0, len(tokens), _BLOCK):
        block = rows[start : start + _BLOCK]
        ids = np.asarray(tokens[start : start + _BLOCK])
        peak = block.max(axis=1, keepdims=True)
        log_total = peak[:, 0].astype(np.float64) + np.log(np.exp(block - peak).sum(axis=1, dtype=np.float64))
        chosen = block[np.arange(len(ids)), ids].astype(np.float64) - log_total
        best = np.argpartition(block, -k, axis=1)[:, -k:] if k > 0 else None
        for i, token in enumerate(ids.tolist()):
            top: tuple[tuple[int, float], ...] = ()
            if best is not None:
                ranked = best[i][np.argsort(-block[i, best[i]], kind="stable")]
                top = tuple((int(t), float(block[i, t]) - float(log_total[i])) for t in ranked)
            out.append(TokenLogprob(token, float(chosen[i]), top))
    return out
