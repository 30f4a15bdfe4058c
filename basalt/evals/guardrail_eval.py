"""Guardrail evaluation: score one guardrail definition on a labelled set, before a change of threshold, strength
or word list ships. No cloud platform offers this; it answers "what would this definition have caught, and what
would it have wrongly stopped?" with precision and recall per policy and the texts it got wrong.

    result = evaluate(Guardrail(config), read_labelled(Path("set.jsonl")), policy="PROMPT_ATTACK")

A labelled row is `{"text", "label": 1|0}` (the text should / should not be caught) with the policy it is about in
`policy` (also read from `category` or `topic`, the fields of the shipped sets; the CLI's `--policy` otherwise), or
`{"text", "spans": [{"start", "end", "type"}]}` for sensitive information, where every labelled span should be found
and nothing else. `group` (or a `source` that is not INPUT/OUTPUT) breaks the figures down by where rows came from.
`"rot13": true` marks a text stored ROT13-encoded (the shipped sets keep key-shaped fakes away from secret scanners).

A policy is caught when the guardrail reports a finding of that kind (a content filter type, a topic's name, an
entity type, a regex's name, a custom word), in detect-only mode too; `ANY` means any finding at all, and
`WORDS` / `PROFANITY` any custom word / managed-list match. Span rows count a detection when its type is the
labelled one and it overlaps the labelled span, exactly as bench/guardrails.py scores PII.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..guard import Assessment, Guardrail, Source
from ..guard.types import Finding, Policy

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ROWS = 100_000
MAX_TEXT_CHARS = 100_000  # a labelled text longer than this is a mistake, not a test case
MAX_ERRORS = 200  # texts kept per policy and kind of mistake: enough to read, bounded for the report
ANY = "ANY"
_DIRECTIONS = ("INPUT", "OUTPUT")


class LabelError(ValueError):
    """A bad line of a labelled set, told as `FILE:N: why`."""


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    policy: str | None = None  # what `label` is about; None on span rows
    label: bool = False
    spans: tuple[tuple[int, int, str], ...] | None = None  # (start, end, type) on span rows
    group: str | None = None


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, label: bool, caught: bool) -> None:
        if label and caught:
            self.tp += 1
        elif caught:
            self.fp += 1
        elif label:
            self.fn += 1
        else:
            self.tn += 1

    def figures(self) -> dict[str, Any]:
        """Precision and recall as bench/guardrails.py rounds them (1.0 when nothing was there to get wrong)."""
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return {"precision": round(p, 4), "recall": round(r, 4), "tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass
class _Policy:
    tally: Tally = field(default_factory=Tally)
    samples: int = 0
    exact: int | None = None  # span policies: detections whose boundaries are exactly the labelled ones
    missed: list[dict[str, Any]] = field(default_factory=list)
    wrongly_caught: list[dict[str, Any]] = field(default_factory=list)


def read_labelled(path: Path, policy: str | None = None) -> list[Labelled]:
    """The rows of a labelled JSONL file; `policy` is the default for rows that name none."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LabelError(f"{path}: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise LabelError(f"{path}: {size} bytes; a labelled set holds at most {MAX_FILE_BYTES}")
    out: list[Labelled] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                if len(out) == MAX_ROWS:
                    raise LabelError(f"{path}:{number}: a labelled set holds at most {MAX_ROWS} rows")
                out.append(parse_row(raw, policy, f"{path}:{number}"))
    if not out:
        raise LabelError(f"{path}: no rows")
    return out


def parse_row(raw: bytes | str, policy: str | None, where: str) -> Labelled:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelError(f"{where}: not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise LabelError(f"{where}: expected a JSON object")
    text = row.get("text")
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise LabelError(f"{where}: text must be a string of at most {MAX_TEXT_CHARS} characters")
    if row.get("rot13") is True:
        text = codecs.decode(text, "rot13")
    source = row.get("source")
    group = row.get("group", source if source not in _DIRECTIONS else None)
    if group is not None and not isinstance(group, str):
        raise LabelError(f"{where}: group must be a string")
    if "spans" in row:
        return Labelled(text, spans=_spans(row["spans"], len(text), where), group=group)
    label = row.get("label")
    if label not in (0, 1) or isinstance(label, float):
        raise LabelError(f"{where}: label must be 1 (should be caught) or 0, or give spans")
    named = row.get("policy", row.get("category", row.get("topic", policy)))
    if named is None:
        named = ANY
    if not isinstance(named, str) or not named or len(named) > 100:
        raise LabelError(f"{where}: policy must be a name of at most 100 characters")
    return Labelled(text, named, bool(label), group=group)


def _spans(value: object, length: int, where: str) -> tuple[tuple[int, int, str], ...]:
    if not isinstance(value, list):
        raise LabelError(f"{where}: spans must be a list")
    out = []
    for s in value:
        ok = isinstance(s, dict) and isinstance(s.get("type"), str)
        start, end = (s.get("start"), s.get("end")) if isinstance(s, dict) else (None, None)
        if not ok or not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= length:
            raise LabelError(f"{where}: a span is {{start, end, type}} with 0 <= start < end <= the text's length")
        out.append((start, end, str(s["type"]).upper()))
    return tuple(out)


def caught(policy: str, assessment: Assessment) -> bool:
    """Whether the guardrail caught `policy` in this text (see the module's docstring for the names)."""
    if policy.upper() == ANY:
        return bool(assessment.findings)
    return any(_is(policy, f) for f in assessment.findings)


def _is(policy: str, finding: Finding) -> bool:
    upper = policy.upper()
    if finding.policy is Policy.WORD:
        if upper in ("WORDS", "PROFANITY"):
            return upper == "WORDS" or finding.sub == "managedWordLists"
        return finding.kind.casefold() == policy.casefold()
    if finding.policy is Policy.TOPIC:
        return finding.kind == policy
    return finding.kind.upper() == upper


def evaluate(guardrail: Guardrail, rows: list[Labelled], source: Source = "INPUT") -> dict[str, Any]:
    """Precision and recall per policy (and per group), with the texts missed and wrongly caught."""
    policies: dict[str, _Policy] = {}
    groups: dict[str, Tally] = {}
    for row in rows:
        assessment = guardrail.assess(row.text, source)
        if row.spans is not None:
            _score_spans(row, assessment, policies)
            continue
        assert row.policy is not None
        entry = policies.setdefault(row.policy, _Policy())
        got = caught(row.policy, assessment)
        entry.samples += 1
        entry.tally.add(row.label, got)
        if row.group is not None:
            groups.setdefault(row.group, Tally()).add(row.label, got)
        if got != row.label:
            wrong = entry.missed if row.label else entry.wrongly_caught
            if len(wrong) < MAX_ERRORS:
                wrong.append({"text": row.text, "group": row.group, "found": _found(assessment)})
    return {
        "guardrail": {"name": guardrail.name, "version": guardrail.version},
        "source": source,
        "samples": len(rows),
        "policies": {name: _figures(p) for name, p in sorted(policies.items())},
        "groups": {name: _group(t) for name, t in sorted(groups.items())},
    }


def _score_spans(row: Labelled, assessment: Assessment, policies: dict[str, _Policy]) -> None:
    gold = list(row.spans or ())
    matched: set[tuple[int, int, str]] = set()
    # Every span found, in the order found, masking or not: a detect-only (NONE) entity is still a detection, and a
    # blocked text's spans are in its findings only.
    found = [f.span for f in assessment.findings if f.span is not None]
    for kind in {g[2] for g in gold} | {s.kind for s in found}:
        entry = policies.setdefault(kind, _Policy())
        entry.samples += 1
        entry.exact = entry.exact or 0
    for span in found:
        entry = policies[span.kind]
        overlapping = (g for g in gold if g[2] == span.kind and span.start < g[1] and g[0] < span.end)
        hit = next((g for g in overlapping if g not in matched), None)
        if hit is None:
            entry.tally.fp += 1
            if len(entry.wrongly_caught) < MAX_ERRORS:
                entry.wrongly_caught.append({"text": row.text, "span": [span.start, span.end], "group": row.group})
        else:
            matched.add(hit)
            entry.tally.tp += 1
            entry.exact = (entry.exact or 0) + ((span.start, span.end) == hit[:2])
    for g in gold:
        if g not in matched:
            entry = policies[g[2]]
            entry.tally.fn += 1
            if len(entry.missed) < MAX_ERRORS:
                entry.missed.append({"text": row.text, "span": [g[0], g[1]], "group": row.group})


def _found(assessment: Assessment) -> list[str]:
    return sorted({f.kind for f in assessment.findings})


def _figures(p: _Policy) -> dict[str, Any]:
    out = {**p.tally.figures(), "samples": p.samples}
    if p.exact is not None:
        out |= {"exact_spans": p.exact, "exact_span_share": round(p.exact / max(p.tally.tp, 1), 4)}
    return {**out, "missed": p.missed, "wrongly_caught": p.wrongly_caught}


def _group(t: Tally) -> dict[str, Any]:
    """A group of attacks only reports its recall, one of benign texts only its false-positive rate."""
    samples = t.tp + t.fp + t.fn + t.tn
    out: dict[str, Any] = {"samples": samples, "flagged": t.tp + t.fp}
    if t.tp + t.fn:
        out["recall"] = round(t.tp / (t.tp + t.fn), 4)
    if t.fp + t.tn:
        out["false_positive_rate"] = round(t.fp / (t.fp + t.tn), 4)
    return out


def totals(result: dict[str, Any], span_policies: bool | None = None) -> dict[str, Any]:
    """Micro-averaged precision and recall over a result's policies (only the span ones, or only the others)."""
    t, exact = Tally(), None
    for figures in result["policies"].values():
        if span_policies is not None and ("exact_spans" in figures) != span_policies:
            continue
        t.tp, t.fp, t.fn = t.tp + figures["tp"], t.fp + figures["fp"], t.fn + figures["fn"]
        if "exact_spans" in figures:
            exact = (exact or 0) + figures["exact_spans"]
    out = t.figures()
    if exact is not None:
        out["exact_span_share"] = round(exact / max(t.tp, 1), 4)
    return out


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per policy, how precision and recall moved from one definition's result to another's on the same set."""
    out: dict[str, dict[str, float]] = {}
    for name in sorted(set(before["policies"]) | set(after["policies"])):
        b, a = before["policies"].get(name), after["policies"].get(name)
        if b and a:
            out[name] = {k: round(a[k] - b[k], 4) for k in ("precision", "recall")}
    return out
