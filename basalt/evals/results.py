"""The result of `basalt eval run`: one JSON document the report, the comparison and the gate read.

    {"format": "basalt.eval.result/1", "name", "task", "created_at", "models": [...], "metrics": [...],
     "lower_is_better": [...], "judge": {"model", "prompts"} | null, "runs": {model: {eval_id, run_id, ...}},
     "scores": {model: {metric: value}}, "by_category": {model: {category: {metric: value}}},
     "counts": {model: {"items", "errored"}},
     "items": [{"index", "prompt", "reference", "category", "outputs": {model: {"text", "scores", ...}}}]}

Every metric is in [0, 1]. `robustness` is the drop of accuracy from the original items to the perturbed ones
(negative when the perturbed ones scored better), `toxicity` the share of flagged answers: lower is better for
those two, higher for the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .run_spec import LOWER_IS_BETTER, Item

FORMAT = "basalt.eval.result/1"
MAX_RESULT_BYTES = 256 * 1024 * 1024


@dataclass
class Sample:
    """One model's answer to one item and its per-metric scores (a metric absent: not graded, e.g. errored)."""

    text: str | None
    scores: dict[str, float] = field(default_factory=dict)
    perturbed_prompt: str | None = None
    perturbed_text: str | None = None
    error: str | None = None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _metric_means(samples: Sequence[Sample], metrics: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in metrics:
        if metric == "robustness":
            pairs = [(s.scores["accuracy"], s.scores["accuracy_perturbed"]) for s in samples if _has_pair(s)]
            if pairs:
                out[metric] = round(sum(a - p for a, p in pairs) / len(pairs), 4)
            continue
        mean = _mean([s.scores[metric] for s in samples if metric in s.scores])
        if mean is not None:
            out[metric] = mean
    return out


def _by_category(
    items: Sequence[Item], samples: Sequence[Sample], categories: list[str], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    pairs = list(zip(items, samples, strict=True))
    return {c: _metric_means([s for i, s in pairs if i.category == c], metrics) for c in categories}


def _has_pair(s: Sample) -> bool:
    return "accuracy" in s.scores and "accuracy_perturbed" in s.scores


def summarise(
    name: str,
    task: str,
    items: Sequence[Item],
    samples: dict[str, list[Sample]],
    metrics: Sequence[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The result document from every model's samples (`samples[model][i]` answers `items[i]`)."""
    models = list(samples)
    categories = sorted({i.category for i in items if i.category})
    result: dict[str, Any] = {
        "format": FORMAT,
        "name": name,
        "task": task,
        "created_at": int(time.time()),
        "models": models,
        "metrics": list(metrics),
        "lower_is_better": [m for m in metrics if m in LOWER_IS_BETTER],
        "scores": {m: _metric_means(samples[m], metrics) for m in models},
        "by_category": {m: _by_category(items, samples[m], categories, metrics) for m in models},
        "counts": {m: {"items": len(items), "errored": sum(s.error is not None for s in samples[m])} for m in models},
        "items": [_item(n, item, samples) for n, item in enumerate(items)],
    }
    return {**result, **(extra or {})}


def _item(index: int, item: Item, samples: dict[str, list[Sample]]) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for model, per in samples.items():
        s = per[index]
        out: dict[str, Any] = {"text": s.text, "scores": s.scores}
        if s.perturbed_prompt is not None:
            out |= {"perturbed_prompt": s.perturbed_prompt, "perturbed_text": s.perturbed_text}
        if s.error is not None:
            out["error"] = s.error
        outputs[model] = out
    return {
        "index": index,
        "prompt": item.prompt,
        "reference": item.reference,
        "category": item.category,
        "outputs": outputs,
    }


class ResultError(ValueError):
    pass


def load(path: Path) -> dict[str, Any]:
    """A result file, checked enough that the report and the gate can trust its shape."""
    try:
        size = path.stat().st_size
        if size > MAX_RESULT_BYTES:
            raise ResultError(f"{path}: {size} bytes; a result is at most {MAX_RESULT_BYTES}")
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise ResultError(f"{path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ResultError(f"{path}: not a basalt eval result (format {FORMAT})")
    scores = doc.get("scores")
    ok = isinstance(scores, dict) and all(
        isinstance(per, dict) and all(isinstance(v, int | float) for v in per.values()) for per in scores.values()
    )
    if not ok or not isinstance(doc.get("models"), list) or not isinstance(doc.get("metrics"), list):
        raise ResultError(f"{path}: models, metrics and scores are missing or malformed")
    return doc


def worst_items(result: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """The items the models did worst on: lowest mean of the first higher-is-better metric across the models."""
    lower = set(result.get("lower_is_better", []))
    metric = next((m for m in result["metrics"] if m not in lower), None)
    if metric is None:
        return []

    def key(item: dict[str, Any]) -> float:
        values = [o["scores"][metric] for o in item["outputs"].values() if metric in o.get("scores", {})]
        return sum(values) / len(values) if values else -1.0

    return sorted(result.get("items", []), key=key)[:limit]
