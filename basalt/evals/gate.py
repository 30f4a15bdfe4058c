"""Comparing two results, and the regression gate for CI: `basalt eval compare BASE NEW --tolerance 0.02` (or
`basalt eval run SPEC --baseline BASE --tolerance 0.02`) exits 1 when any model's metric moved the wrong way by
more than the tolerance, on the metric's own [0, 1] scale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Change:
    model: str
    metric: str
    before: float
    after: float
    lower_is_better: bool

    @property
    def delta(self) -> float:
        return round(self.after - self.before, 4)

    @property
    def worse_by(self) -> float:
        """How much worse the metric got (negative: better)."""
        return self.delta if self.lower_is_better else -self.delta

    def regressed(self, tolerance: float) -> bool:
        return self.worse_by > tolerance + 1e-9  # a change of exactly the tolerance passes


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every (model, metric) scored in both results, in the newer result's order."""
    lower = set(before.get("lower_is_better", [])) | set(after.get("lower_is_better", []))
    out = []
    for model in after["models"]:
        old, new = before["scores"].get(model, {}), after["scores"].get(model, {})
        for metric in after["metrics"]:
            if metric in old and metric in new:
                out.append(Change(model, metric, float(old[metric]), float(new[metric]), metric in lower))
    return out


def missing(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """(model, metric) pairs the baseline scored and the new result does not: a gate must not pass by omission."""
    out = []
    for model, per in before["scores"].items():
        for metric in per:
            if metric not in after["scores"].get(model, {}):
                out.append(f"{model} {metric}")
    return out


def table(found: list[Change], tolerance: float | None) -> str:
    width = max([len(c.model) for c in found] + [5])
    lines = [f"{'model':<{width}}  {'metric':<13} {'before':>7} {'after':>7} {'delta':>7}"]
    for c in found:
        flag = "  REGRESSION" if tolerance is not None and c.regressed(tolerance) else ""
        lines.append(f"{c.model:<{width}}  {c.metric:<13} {c.before:>7.4f} {c.after:>7.4f} {c.delta:>+7.4f}{flag}")
    return "\n".join(lines)


def gate(before: dict[str, Any], after: dict[str, Any], tolerance: float) -> tuple[bool, str]:
    """(passed, what to print): fails on any regression beyond the tolerance or a baseline metric gone missing."""
    found = changes(before, after)
    gone = missing(before, after)
    regressions = [c for c in found if c.regressed(tolerance)]
    lines = [table(found, tolerance)]
    if gone:
        lines.append("missing from the new result: " + ", ".join(gone))
    if not found:
        lines.append("no model and metric in common with the baseline")
    passed = not regressions and not gone and bool(found)
    verdict = "passed" if passed else f"FAILED ({len(regressions)} regression(s) beyond {tolerance})"
    lines.append(f"gate {verdict}")
    return passed, "\n".join(lines)
