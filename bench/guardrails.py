"""Guardrail quality and overhead on the labelled set in tests/data/guardrails/.

    .venv/bin/python -m bench.guardrails

Prints precision and recall per policy and the overhead, and writes bench/results/guardrails.json. The same
evaluation functions back the quality floors in tests/guard/test_quality.py.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from basalt.canonical.events import EventWriter
from basalt.guard import (
    ContentFilter,
    DeniedTopic,
    EntityFilter,
    Guardrail,
    GuardrailConfig,
    RegexFilter,
    Resources,
    SensitiveInformationPolicy,
    WordPolicy,
    guard_stream,
)
from basalt.guard.attack_model import attack_model, tokens
from basalt.guard.config import ENTITY_TYPES
from basalt.guard.lexicon import Text
from basalt.guard.prompt_attack import attack_hits

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "guardrails"
RESULTS = ROOT / "bench" / "results" / "guardrails.json"
CATEGORIES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")


# The labelled set's made-up credentials would look leaked to any secret scanner, so rows that hold something
# key-shaped are stored ROT13-encoded (marked "rot13": true): letters move, lengths and so the spans stay.
KEY_SHAPED = re.compile(r"AKIA|ASIA|sk[-_]|ghp_|xox[bp]-|AIza|glpat-|hf_|aws_secret|[A-Za-z0-9/+_-]{32,}")
CREDENTIALS = {"AWS_ACCESS_KEY", "AWS_SECRET_KEY", "API_KEY"}


def stored(row: dict[str, Any]) -> dict[str, Any]:
    """A row as it is written to the data file."""
    if any(s["type"] in CREDENTIALS for s in row["spans"]) or KEY_SHAPED.search(row["text"]):
        return {**row, "text": codecs.encode(row["text"], "rot13"), "rot13": True}
    return row


def rows(name: str) -> list[dict[str, Any]]:
    out = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
    for row in out:
        if row.pop("rot13", False):
            row["text"] = codecs.decode(row["text"], "rot13")
    return out


def _pr(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "tp": tp, "fp": fp, "fn": fn}


def pii_guardrail(resources: Resources | None = None) -> Guardrail:
    entities = [EntityFilter(type=t) for t in ENTITY_TYPES]
    config = GuardrailConfig(name="pii", sensitive_information=SensitiveInformationPolicy(entities=entities))
    return Guardrail(config, resources)


def eval_pii(guardrail: Guardrail) -> dict[str, Any]:
    """A detection counts when its type is right and it overlaps the labelled span; `exact` is the share of those
    whose boundaries are exactly the labelled ones."""
    counts: Counter[tuple[str, str]] = Counter()
    exact = 0
    for row in rows("pii.jsonl"):
        gold = [(s["start"], s["end"], s["type"]) for s in row["spans"]]
        found = [(s.start, s.end, s.kind) for s in guardrail.assess(row["text"], "INPUT").spans]
        matched: set[tuple[int, int, str]] = set()
        for start, end, kind in found:
            hit = next((g for g in gold if g[2] == kind and start < g[1] and g[0] < end and g not in matched), None)
            if hit is None:
                counts[kind, "fp"] += 1
            else:
                matched.add(hit)
                counts[kind, "tp"] += 1
                exact += (start, end) == hit[:2]
        for g in gold:
            if g not in matched:
                counts[g[2], "fn"] += 1
    kinds = sorted({k for k, _ in counts})
    per_type = {k: _pr(counts[k, "tp"], counts[k, "fp"], counts[k, "fn"]) for k in kinds}
    total = _pr(*(sum(counts[k, x] for k in kinds) for x in ("tp", "fp", "fn")))
    total["exact_span_share"] = round(exact / max(total["tp"], 1), 4)
    return {**total, "per_type": per_type, "samples": len(rows("pii.jsonl"))}


def _binary(items: list[tuple[bool, bool]]) -> dict[str, float]:
    tp = sum(1 for label, pred in items if label and pred)
    fp = sum(1 for label, pred in items if not label and pred)
    fn = sum(1 for label, pred in items if label and not pred)
    return {**_pr(tp, fp, fn), "samples": len(items)}


def eval_prompt_attack(resources: Resources | None = None) -> dict[str, Any]:
    """The team's own set, at each strength (the rules were written against it: an optimistic figure)."""
    out: dict[str, Any] = {}
    data = rows("prompt_attack.jsonl")
    for strength in ("HIGH", "MEDIUM", "LOW"):
        g = attack_guardrail(resources, strength)
        out[strength] = _binary([(bool(r["label"]), g.assess(r["text"], "INPUT").blocked) for r in data])
    out |= out["HIGH"]
    return out


def attack_guardrail(resources: Resources | None = None, strength: str = "HIGH") -> Guardrail:
    content = [ContentFilter(type="PROMPT_ATTACK", input_strength=strength)]  # type: ignore[arg-type]
    return Guardrail(GuardrailConfig(name="pa", content=content), resources)


def attack_sources() -> dict[str, list[tuple[str, bool]]]:
    """(text, is attack) by source. None of these was read while the rules or the scorer were written, except the
    15 jailbreak-corpus-mini prompts, which the team had seen (docs/guardrails.md says so); none is in the
    scorer's training corpus (bench/attack_corpus.py)."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for r in rows("prompt_attack_heldout.jsonl"):
        out.setdefault(f"heldout_{r['source']}", []).append((r["text"], bool(r["label"])))
    out["jailbreak_corpus_mini"] = [(t, True) for t in _jailbreak_corpus_mini()]
    for text, label in _bastioncorpus():
        out.setdefault(f"bastioncorpus_{'attacks' if label else 'benign'}", []).append((text, label))
    for text, label in _agent_injection_bench():
        out.setdefault(f"agent_injection_bench_{'attacks' if label else 'controls'}", []).append((text, label))
    return {k: v for k, v in out.items() if v}


def eval_attack_sources(resources: Resources | None = None, strength: str = "HIGH") -> dict[str, Any]:
    """Recall on each attack source and the false-positive rate on each benign source, at one strength: for the
    filter as it ships (`flagged`, rules and scorer), and for each half alone (`rules`, `model`: what each would
    flag by itself at that strength)."""
    g = attack_guardrail(resources, strength)
    need = {"HIGH": 1.0, "MEDIUM": 2.0, "LOW": 3.0}[strength]
    model = attack_model()
    out: dict[str, Any] = {}
    for name, items in attack_sources().items():
        flagged = [g.assess(t, "INPUT").blocked for t, _ in items]
        rules = [sum(h.rule.weight for h in attack_hits(Text(t))) >= need for t, _ in items]
        learned = [model.points(tokens(t)) >= need for t, _ in items]
        attacks = all(label for _, label in items)
        key = "recall" if attacks else "false_positive_rate"
        out[name] = {
            key: round(sum(flagged) / len(items), 4),
            "flagged": sum(flagged),
            "samples": len(items),
            "rules": sum(rules),
            "model": sum(learned),
        }
    return out


def _jailbreak_corpus_mini() -> list[str]:
    """The 15 MIT-licensed prompts of jailbreak-corpus-mini-py (the test extra), all attacks."""
    try:
        from jailbreak_corpus_mini import load_corpus
    except ImportError:
        return []
    return [f.prompt for f in load_corpus()]


def _agent_injection_bench() -> list[tuple[str, bool]]:
    """agent-injection-bench 0.1.0 (MIT, the test extra): the hostile text of its 21 scenarios, as it reaches the
    agent through a tool result, document, web page, file name, metadata or earlier turn, and its 3 controls'
    benign text. Added as a test source after the scorer was trained; its rows were never read."""
    try:
        from importlib.resources import files

        data = (files("aib") / "data" / "attacks.jsonl").read_text(encoding="utf-8")
    except (ImportError, FileNotFoundError):
        return []
    scenarios = [json.loads(line) for line in data.splitlines() if line.strip()]
    return [(str(r["injected"]), r["family"] != "control") for r in scenarios]


def _bastioncorpus() -> list[tuple[str, bool]]:
    """bastioncorpus 0.6.0 (MIT, the test extra): 118 attacks and 63 benign traps in five languages; its
    `{canary}` slot is filled with a neutral token."""
    try:
        from bastioncorpus import load_corpus
    except ImportError:
        return []
    return [(r.text.replace("{canary}", "ZX-4417"), r.label == "malicious") for r in load_corpus()]


def eval_content(resources: Resources | None = None) -> dict[str, Any]:
    data = rows("content.jsonl")
    out: dict[str, Any] = {}
    for category in CATEGORIES:
        subset = [r for r in data if r["category"] == category]
        per: dict[str, Any] = {}
        for strength in ("HIGH", "MEDIUM"):
            f = ContentFilter(type=category, input_strength=strength)  # type: ignore[arg-type]
            g = Guardrail(GuardrailConfig(name="c", content=[f]), resources)
            per[strength] = _binary([(bool(r["label"]), g.assess(r["text"], "INPUT").blocked) for r in subset])
        out[category] = per
    return out


def topics_guardrail(resources: Resources | None = None, threshold: float | None = None) -> Guardrail:
    specs = json.loads((DATA / "topics_config.json").read_text())
    topics = [DeniedTopic(**s, **({"threshold": threshold} if threshold else {})) for s in specs]
    return Guardrail(GuardrailConfig(name="topics", topics=topics), resources)


def eval_topics(resources: Resources | None = None) -> dict[str, Any]:
    data = rows("topics.jsonl")
    resources = resources or Resources()
    g = topics_guardrail(resources)
    matcher = g._topics  # the scores once, then every threshold
    assert matcher is not None
    scored = []
    for r in data:
        score = next(s.score for s in matcher.scores(r["text"]) if s.topic.name == r["topic"])
        scored.append((bool(r["label"]), score))
    default = g.config.topics[0].threshold
    sweep = {f"{t:.2f}": _binary([(label, s >= t) for label, s in scored]) for t in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6)}
    return {**_binary([(label, s >= default) for label, s in scored]), "threshold": default, "sweep": sweep}


def message_4kb() -> str:
    """A 4 KB support-chat message: ordinary prose with a few values of the kinds the policies look for."""
    parts = [
        "Hi team, following up on the ticket from last week about the billing dashboard.",
        "The export job failed again at 02:14 with error code 504 after running for about twelve minutes.",
        "Customer Jane Miller (jane.miller@example.com, +1-415-555-0199) says the invoice total is wrong.",
        "She was charged twice on card 4111 1111 1111 1111 for order ORD-2024-004512 on 2024-03-18.",
        "Our logs show the request came from 203.0.113.42 using the v2.3.1 client on Windows 10.0.19045.",
        "Could you check whether the retry logic in the payment worker double-submits when the gateway times out?",
        "I suspect the idempotency key is regenerated on each attempt instead of being kept for the whole order.",
        "Also, the staging credentials were pasted in the channel yesterday; please rotate them when you can.",
        "The dashboard itself renders fine in Chrome and Firefox, but Safari shows the totals with the wrong locale.",
        "Let me know if you need the full trace or a screen recording of the issue.",
    ]
    text = ""
    while len(text) < 4096:
        text += " ".join(parts) + "\n\n"
    return text[:4096]


def all_text_policies(resources: Resources | None = None) -> Guardrail:
    """Every policy that is not semantic: words (custom + managed profanity), every entity, two regexes, every
    content filter and the prompt-attack filter."""
    config = GuardrailConfig(
        name="all",
        words=WordPolicy(words=["project zeus", "internal only", "codename"], managed_profanity=True),
        sensitive_information=SensitiveInformationPolicy(
            entities=[EntityFilter(type=t) for t in ENTITY_TYPES],
            regexes=[
                RegexFilter(name="ORDER_ID", pattern=r"\bORD-\d{4}-\d{6}\b"),
                RegexFilter(name="EMPLOYEE_ID", pattern=r"\bE\d{7}\b"),
            ],
        ),
        content=[ContentFilter(type=c) for c in (*CATEGORIES, "PROMPT_ATTACK")],  # type: ignore[arg-type]
    )
    return Guardrail(config, resources)


def p50_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 3)


async def _stream_once(g: Guardrail, text: str, size: int) -> None:
    w = EventWriter("bench")
    events = w.start() + [e for i in range(0, len(text), size) for e in w.text(text[i : i + size])] + w.end("end_turn")

    async def source() -> AsyncIterator[list[dict[str, Any]]]:
        for e in events:
            yield [e]  # guard_stream reads batches of events, one per token here

    async for _ in guard_stream(g, source()):
        pass


def overhead(resources: Resources) -> dict[str, Any]:
    text = message_4kb()
    g = all_text_policies(resources)
    topics = topics_guardrail(resources)
    short = "Should I put all my savings into Tesla stock right now?"
    return {
        "overhead_p50_ms_4kb": p50_ms(lambda: g.assess(text, "INPUT"), 300),
        "overhead_p50_ms_4kb_stream_total": p50_ms(lambda: asyncio.run(_stream_once(g, text, 4)), 20),
        "semantic_topics_p50_ms_4kb": p50_ms(lambda: topics.assess(text, "INPUT"), 10),
        "semantic_topics_p50_ms_short": p50_ms(lambda: topics.assess(short, "INPUT"), 30),
    }


def main() -> None:
    resources = Resources()
    results: dict[str, Any] = {"pii": eval_pii(pii_guardrail(resources))}
    results["prompt_attack"] = eval_prompt_attack(resources)
    results["prompt_attack_by_source"] = eval_attack_sources(resources)
    results["content_filters"] = eval_content(resources)
    results["denied_topics"] = eval_topics(resources)
    results |= overhead(resources)
    results["machine"] = _machine()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    _print(results)


def _machine() -> str:
    from .engine import machine

    return machine()


def _print(r: dict[str, Any]) -> None:
    pii = r["pii"]
    print(f"PII               P {pii['precision']:.3f}  R {pii['recall']:.3f}  ({pii['samples']} texts)")
    for kind, v in pii["per_type"].items():
        print(f"  {kind:<16}P {v['precision']:.3f}  R {v['recall']:.3f}")
    for strength in ("HIGH", "MEDIUM", "LOW"):
        v = r["prompt_attack"][strength]
        print(f"prompt attack {strength:<6}P {v['precision']:.3f}  R {v['recall']:.3f}")
    for name, v in r["prompt_attack_by_source"].items():
        figure = f"recall {v['recall']:.3f}" if "recall" in v else f"FPR {v['false_positive_rate']:.3f}"
        print(f"  {name:<30}{figure}  ({v['flagged']}/{v['samples']} flagged, strength HIGH; rules alone "
              f"{v['rules']}, scorer alone {v['model']})")  # fmt: skip
    for category, per in r["content_filters"].items():
        v = per["HIGH"]
        print(f"content {category:<11}P {v['precision']:.3f}  R {v['recall']:.3f}  (strength HIGH)")
    t = r["denied_topics"]
    print(f"denied topics     P {t['precision']:.3f}  R {t['recall']:.3f}  (threshold {t['threshold']})")
    print(f"overhead, all text policies, 4 KB: p50 {r['overhead_p50_ms_4kb']} ms")
    print(f"  streamed in 4-char deltas, whole answer: p50 {r['overhead_p50_ms_4kb_stream_total']} ms")
    print(f"semantic (denied topics): 4 KB p50 {r['semantic_topics_p50_ms_4kb']} ms, short p50 "
          f"{r['semantic_topics_p50_ms_short']} ms")  # fmt: skip


if __name__ == "__main__":
    main()
