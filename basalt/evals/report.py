"""The HTML report of an evaluation result: one self-contained file (inline CSS and SVG charts, no script, no
network), written from the result JSON so a result can be re-rendered any time.

Charts: every metric with the models side by side; each higher-is-better metric per category; then the summary
table and the worst items with every model's answer. Every text from the data or a model is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .results import worst_items

PALETTE = ("#3b6fd4", "#e07b39", "#3a9d5d", "#b94a8f", "#8a6d3b", "#5b5fa8", "#c0392b", "#2a9fa8")
CHART_H = 220  # the plot area's height in px; bars scale to [0, 1]
BAR_W = 26
GAP = 18
GROUP_MIN_W = 100
TOP = 18  # room above the plot for a full bar's value
LEFT = 44
MAX_CATEGORY_CHARTS = 4
MAX_CELL_CHARS = 600  # long prompts and answers are cut in the table (the JSON has them whole)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.meta{color:#5a6275;margin-bottom:16px}
.legend span{display:inline-block;margin-right:16px}.legend i{display:inline-block;width:12px;height:12px;
margin-right:6px;vertical-align:-1px;border-radius:2px}
.charts{display:flex;flex-wrap:wrap;gap:20px}.chart{border:1px solid #dde2ec;border-radius:6px;padding:8px 10px}
.chart h3{font-size:14px;margin:2px 0 4px}svg text{font-size:11px;fill:#394152}.grid{stroke:#e6e9f0}
.axis{stroke:#9aa3b5}table{border-collapse:collapse;width:100%;margin-top:4px}
th,td{border:1px solid #dde2ec;padding:5px 8px;text-align:left;vertical-align:top}th{background:#f3f5f9}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.bad{background:#fdecea}td.good{background:#eaf6ee}.small{color:#5a6275;font-size:12px}
.answer{white-space:pre-wrap;word-break:break-word}
"""


def _cut(text: str | None) -> str:
    text = text or ""
    return escape(text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + " …")


def bar_chart(title: str, groups: list[str], series: list[str], values: dict[tuple[str, str], float]) -> str:
    """Grouped vertical bars on a [0, 1] axis: one group per entry of `groups`, one bar per series in each."""
    group_w = max(len(series) * BAR_W + GAP, GROUP_MIN_W)  # room for the group's label under it
    width = LEFT + max(1, len(groups)) * group_w + 10
    height = TOP + CHART_H + 36
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">']  # fmt: skip
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = TOP + CHART_H * (1 - tick)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + CHART_H}"/>')
    for g, group in enumerate(groups):
        x0 = LEFT + (group_w - len(series) * BAR_W) / 2 + g * group_w
        for s, name in enumerate(series):
            value = values.get((group, name))
            if value is None:
                continue
            shown = max(0.0, min(1.0, value))
            h = max(1.0, CHART_H * shown)  # a zero still shows as a hairline, so "0" and "not scored" differ
            x, y = x0 + s * BAR_W, TOP + CHART_H - h
            label = escape(f"{name} · {group}: {value:.4f}")
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{BAR_W - 4}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}" data-value="{value:.4f}"><title>{label}</title></rect>'
            )
            parts.append(f'<text x="{x + (BAR_W - 4) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{value:.2f}</text>')
        short = group if len(group) <= 15 else group[:14] + "…"
        cx = x0 + len(series) * BAR_W / 2
        parts.append(f'<text x="{cx:.1f}" y="{TOP + CHART_H + 18}" text-anchor="middle">{escape(short)}</text>')
    parts.append("</svg>")
    return f'<div class="chart"><h3>{escape(title)}</h3>{"".join(parts)}</div>'


def _legend(models: list[str]) -> str:
    spans = "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(m)}</span>' for i, m in enumerate(models)
    )
    return f'<div class="legend">{spans}</div>'


def _metric_label(metric: str, lower: set[str], short: bool = False) -> str:
    if metric not in lower:
        return metric
    return f"{metric} ↓" if short else f"{metric} (lower is better)"


def _summary(result: dict[str, Any], lower: set[str]) -> str:
    metrics, models = result["metrics"], result["models"]
    head = "".join(f"<th>{escape(_metric_label(m, lower))}</th>" for m in metrics)
    rows = []
    for model in models:
        scores = result["scores"].get(model, {})
        best = {m: _best(result, m, lower) for m in metrics}
        cells = "".join(
            f'<td class="num{" good" if len(models) > 1 and scores.get(m) == best[m] else ""}">{scores[m]:.4f}</td>'
            if m in scores
            else '<td class="num">-</td>'
            for m in metrics
        )
        counts = result.get("counts", {}).get(model, {})
        rows.append(
            f"<tr><td>{escape(model)}</td>{cells}<td class='num'>{counts.get('items', '')}</td>"
            f"<td class='num'>{counts.get('errored', '')}</td></tr>"
        )
    return f"<table><tr><th>model</th>{head}<th>items</th><th>errored</th></tr>{''.join(rows)}</table>"


def _best(result: dict[str, Any], metric: str, lower: set[str]) -> float | None:
    values = [float(s[metric]) for s in result["scores"].values() if metric in s]
    if not values:
        return None
    return min(values) if metric in lower else max(values)


def _worst(result: dict[str, Any], lower: set[str]) -> str:
    items = worst_items(result)
    if not items:
        return "<p class='small'>No per-item scores.</p>"
    models = result["models"]
    head = "".join(f"<th>{escape(m)}</th>" for m in models)
    rows = []
    for item in items:
        cells = []
        for model in models:
            out = item["outputs"].get(model, {})
            scores = ", ".join(f"{k} {v:.2f}" for k, v in out.get("scores", {}).items())
            error = f"<div class='small'>error: {_cut(out.get('error'))}</div>" if out.get("error") else ""
            cells.append(f"<td><div class='answer'>{_cut(out.get('text'))}</div>{error}"
                         f"<div class='small'>{escape(scores)}</div></td>")  # fmt: skip
        category = f"<div class='small'>{escape(item.get('category') or '')}</div>"
        rows.append(
            f"<tr><td class='num'>{item['index']}</td><td class='answer'>{_cut(item['prompt'])}{category}</td>"
            f"<td class='answer'>{_cut(item.get('reference'))}</td>{''.join(cells)}</tr>"
        )
    return f"<table><tr><th>#</th><th>prompt</th><th>reference</th>{head}</tr>{''.join(rows)}</table>"


def render(result: dict[str, Any]) -> str:
    """The report as one HTML document."""
    models: list[str] = list(result["models"])
    metrics: list[str] = list(result["metrics"])
    lower = set(result.get("lower_is_better", []))
    overall = {(_metric_label(m, lower, short=True), model): result["scores"][model][m]
               for model in models for m in metrics if m in result["scores"].get(model, {})}  # fmt: skip
    labels = [_metric_label(m, lower, short=True) for m in metrics]
    charts = [bar_chart("Every metric, models side by side (↓: lower is better)", labels, models, overall)]
    by_category = result.get("by_category", {})
    categories = sorted({c for per in by_category.values() for c in per})
    if categories:
        for metric in [m for m in metrics if m not in lower][:MAX_CATEGORY_CHARTS]:
            values = {
                (c, model): by_category[model][c][metric]
                for model in models
                for c in categories
                if metric in by_category.get(model, {}).get(c, {})
            }
            charts.append(bar_chart(f"{metric} by category", categories, models, values))
    judge = result.get("judge")
    judge_note = f" · judge {escape(judge['model'])}" if isinstance(judge, dict) and judge.get("model") else ""
    items = len(result.get("items", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(str(result.get("name", "evaluation")))} — Basalt evaluation</title><style>{CSS}</style></head>
<body>
<h1>{escape(str(result.get("name", "evaluation")))}</h1>
<div class="meta">task {escape(str(result.get("task", "")))} · {items} items · models {escape(", ".join(models))}
{judge_note}</div>
{_legend(models)}
<h2>Scores</h2>
<div class="charts">{"".join(charts)}</div>
<h2>Summary</h2>
{_summary(result, lower)}
<h2>Worst items</h2>
{_worst(result, lower)}
</body></html>
"""
