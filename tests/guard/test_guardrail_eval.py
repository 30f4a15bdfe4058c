"""Guardrail evaluation (basalt/evals/guardrail_eval.py) on the shipped labelled sets gives bench/guardrails.py's
figures: the same definitions, scored through the generic labelled-set reader, match the bench's own evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bench.guardrails as bench
from basalt.cli import main
from basalt.evals import guardrail_eval as ge
from basalt.guard import ContentFilter, Guardrail, GuardrailConfig, Resources

DATA = Path(__file__).resolve().parent.parent / "data" / "guardrails"
FIGURES = ("precision", "recall", "tp", "fp", "fn")


def figures(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f[k] for k in FIGURES}


def test_pii_matches_the_bench(resources: Resources) -> None:
    guardrail = bench.pii_guardrail(resources)
    result = ge.evaluate(guardrail, ge.read_labelled(DATA / "pii.jsonl"))
    expected = bench.eval_pii(guardrail)
    total = ge.totals(result, span_policies=True)
    assert figures(total) == figures(expected) and total["exact_span_share"] == expected["exact_span_share"]
    assert {k: figures(v) for k, v in result["policies"].items()} == {
        k: figures(v) for k, v in expected["per_type"].items()
    }
    assert result["samples"] == expected["samples"] == 1100


def test_prompt_attack_at_every_strength_and_by_source_matches_the_bench(resources: Resources) -> None:
    rows = ge.read_labelled(DATA / "prompt_attack.jsonl", policy="PROMPT_ATTACK")
    expected = bench.eval_prompt_attack(resources)
    for strength in ("HIGH", "MEDIUM", "LOW"):
        result = ge.evaluate(bench.attack_guardrail(resources, strength), rows)
        got = result["policies"]["PROMPT_ATTACK"]
        assert {**figures(got), "samples": got["samples"]} == expected[strength], strength
        assert len(got["missed"]) == got["fn"] and len(got["wrongly_caught"]) == got["fp"]

    heldout = ge.read_labelled(DATA / "prompt_attack_heldout.jsonl", policy="PROMPT_ATTACK")
    groups = ge.evaluate(bench.attack_guardrail(resources), heldout)["groups"]
    by_source = bench.eval_attack_sources(resources)
    for name, got in groups.items():
        # The bench also splits each figure into what the rules and the learned scorer found alone.
        expected = {k: v for k, v in by_source[f"heldout_{name}"].items() if k not in ("rules", "model")}
        assert got == expected, name


def test_content_filters_in_one_definition_match_the_bench_one_filter_at_a_time(resources: Resources) -> None:
    """One guardrail with all five filters, each row scored on its own category's finding, gives the figures the
    bench gets from five single-filter guardrails."""
    expected = bench.eval_content(resources)
    for strength in ("HIGH", "MEDIUM"):
        filters = [ContentFilter(type=c, input_strength=strength) for c in bench.CATEGORIES]  # type: ignore[arg-type]
        guardrail = Guardrail(GuardrailConfig(name="content", content=filters), resources)
        result = ge.evaluate(guardrail, ge.read_labelled(DATA / "content.jsonl"))
        for category in bench.CATEGORIES:
            got = result["policies"][category]
            assert {**figures(got), "samples": got["samples"]} == expected[category][strength], (category, strength)


def test_denied_topics_match_the_bench_figures(resources: Resources) -> None:
    """Against bench/results/guardrails.json (what bench/guardrails.py printed): scoring the 80 texts with the
    embedding model is the slow part, and tests/guard/test_quality.py already runs the bench's own loop."""
    committed = json.loads((Path(bench.RESULTS)).read_text())["denied_topics"]
    result = ge.evaluate(bench.topics_guardrail(resources), ge.read_labelled(DATA / "topics.jsonl"))
    assert figures(ge.totals(result)) == figures(committed)
    assert sum(p["samples"] for p in result["policies"].values()) == committed["samples"]


def test_the_command_scores_a_definition_file_against_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`basalt eval guardrail`: a looser word list measured before it ships, against the one in production."""
    rows = [
        {"text": "the codename is Zeus", "label": 1, "policy": "WORDS"},
        {"text": "project zeus launches", "label": 1, "policy": "WORDS"},
        {"text": "the weather is nice", "label": 0, "policy": "WORDS"},
        {"text": "a zeus statue in Athens", "label": 0, "policy": "WORDS"},
        {"text": "mail me at a@example.com", "spans": [{"start": 11, "end": 24, "type": "EMAIL"}]},
    ]
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    email = {"entities": [{"type": "EMAIL"}]}
    old = {"name": "support", "version": 1, "words": {"words": ["project zeus"]}, "sensitive_information": email}
    new = {**old, "version": 2, "words": {"words": ["project zeus", "codename", "zeus"]}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "config.yaml").write_text(json.dumps({"guardrails": [old, new]}))
    out = tmp_path / "result.json"
    argv = ["eval", "guardrail", str(tmp_path / "config.yaml"), str(data), "--name", "support:2"]
    assert main([*argv, "--baseline", str(tmp_path / "old.json"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "guardrail support version 2: 5 texts" in printed and "wrongly caught: a zeus statue" in printed
    result = json.loads(out.read_text())
    assert figures(result["policies"]["WORDS"]) == {"precision": 0.6667, "recall": 1.0, "tp": 2, "fp": 1, "fn": 0}
    assert result["policies"]["EMAIL"]["tp"] == 1 and result["policies"]["EMAIL"]["exact_span_share"] == 1.0
    assert result["baseline"]["change"]["WORDS"] == {"precision": -0.3333, "recall": 0.5}


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not JSON"),
        ('{"text": "x"}', "label must be 1"),
        ('{"text": "x", "label": 2}', "label must be 1"),
        ('{"text": 3, "label": 1}', "text must be a string"),
        ('{"text": "abc", "spans": [{"start": 2, "end": 9, "type": "EMAIL"}]}', "a span is"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, why: str
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "fine", "label": 0, "policy": "HATE"}\n' + line + "\n")
    definition = tmp_path / "g.yaml"
    definition.write_text("name: g\ncontent: [{type: HATE}]\n")
    assert main(["eval", "guardrail", str(definition), str(data)]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2: " in err and why in err
