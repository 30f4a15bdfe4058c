"""The offline half of `basalt eval`: the spec and its built-in metrics, the seeded perturbations, the result
document, the comparison and the regression gate, and the HTML report."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from basalt.cli import main
from basalt.evals import report, results
from basalt.evals import run_spec as spec
from basalt.evals.results import Sample

ITEMS = [
    spec.Item("What is the capital of France?", "Paris", "geography"),
    spec.Item("What is the capital of Japan?", "Tokyo", "geography"),
    spec.Item("What is 2 + 2?", "4", "arithmetic"),
    spec.Item("What is 10 - 3?", "7", "arithmetic"),
]


def make_result(shift: float = 0.0) -> dict[str, Any]:
    """Two models over four items; `shift` lowers the second model's accuracy on one item."""
    a = [
        Sample("Paris.", {"accuracy": 1.0, "accuracy_perturbed": 1.0, "toxicity": 0.0, "correctness": 1.0}),
        Sample("Tokyo", {"accuracy": 1.0, "accuracy_perturbed": 0.0, "toxicity": 0.0, "correctness": 0.75}),
        Sample("4", {"accuracy": 1.0, "accuracy_perturbed": 1.0, "toxicity": 0.0, "correctness": 1.0}),
        Sample("<script>alert(1)</script> 8", {"accuracy": 0.0, "accuracy_perturbed": 0.0, "toxicity": 1.0}),
    ]
    b = [
        Sample("Paris", {"accuracy": 1.0 - shift, "accuracy_perturbed": 1.0, "toxicity": 0.0, "correctness": 0.5}),
        Sample("Kyoto", {"accuracy": 0.0, "accuracy_perturbed": 0.0, "toxicity": 0.0, "correctness": 0.0}),
        Sample("four", {"accuracy": 0.0, "accuracy_perturbed": 0.0, "toxicity": 0.0, "correctness": 0.75}),
        Sample(None, {}, error="the model timed out"),
    ]
    metrics = ["accuracy", "robustness", "toxicity", "correctness"]
    return results.summarise("capitals & sums", "question_answering", ITEMS, {"small": a, "other": b}, metrics)


def test_the_result_scores_every_metric_per_model_and_category() -> None:
    r = make_result()
    assert r["scores"]["small"] == {"accuracy": 0.75, "robustness": 0.25, "toxicity": 0.25, "correctness": 0.9167}
    # The errored item counts nowhere: accuracy over three items, robustness over the pairs scored.
    assert r["scores"]["other"] == {"accuracy": 0.3333, "robustness": 0.0, "toxicity": 0.0, "correctness": 0.4167}
    assert r["counts"]["other"] == {"items": 4, "errored": 1}
    assert r["by_category"]["small"]["arithmetic"]["accuracy"] == 0.5
    assert r["lower_is_better"] == ["robustness", "toxicity"]
    assert [i["index"] for i in results.worst_items(r, 2)] == [3, 1]


def write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def test_the_gate_exits_1_on_a_planted_regression_and_0_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "base.json", make_result())
    same = write(tmp_path / "same.json", make_result())
    worse = write(tmp_path / "worse.json", make_result(shift=1.0))  # other's accuracy 0.3333 -> 0.0
    assert main(["eval", "compare", base, same, "--tolerance", "0"]) == 0
    assert "gate passed" in capsys.readouterr().out
    assert main(["eval", "compare", base, worse, "--tolerance", "0.05"]) == 1
    out = capsys.readouterr().out
    assert "other  accuracy" in out and "-0.3333  REGRESSION" in out and "FAILED (1 regression" in out
    assert main(["eval", "compare", base, worse, "--tolerance", "0.34"]) == 0  # within the tolerance
    capsys.readouterr()

    toxic = make_result()
    toxic["scores"]["small"]["toxicity"] = 0.5  # lower is better: a rise is the regression
    assert main(["eval", "compare", base, write(tmp_path / "toxic.json", toxic), "--tolerance", "0.1"]) == 1
    assert "small  toxicity" in capsys.readouterr().out

    dropped = make_result()
    del dropped["scores"]["other"]["correctness"]  # a gate must not pass because a metric went missing
    assert main(["eval", "compare", base, write(tmp_path / "dropped.json", dropped), "--tolerance", "1"]) == 1
    assert "missing from the new result: other correctness" in capsys.readouterr().out

    assert main(["eval", "compare", base, worse]) == 0  # no tolerance: the table only
    assert "REGRESSION" not in capsys.readouterr().out


def test_compare_refuses_what_is_not_a_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(tmp_path / "base.json", make_result())
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["eval", "compare", base, str(tmp_path / "junk.json")]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["eval", "compare", base, write(tmp_path / "other.json", {"format": "x"})]) == 2
    assert "not a basalt eval result" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "compare", base, base, "--tolerance", "5"])


def test_the_report_is_one_escaped_file_with_a_bar_per_model_and_metric(tmp_path: Path) -> None:
    r = make_result()
    page = report.render(r)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    # Overall: 2 models x 4 metrics; by category: 2 higher-is-better metrics x 2 categories x 2 models.
    assert page.count('class="bar"') == 8 + 8
    assert "capitals &amp; sums" in page and "robustness (lower is better)" in page
    assert main(["eval", "report", write(tmp_path / "r.json", r)]) == 0
    assert (tmp_path / "r.html").read_text() == page


def test_spec_maps_metrics_to_testing_criteria_by_task(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text(
        json.dumps({"prompt": "Capital of Peru?", "referenceResponse": "Lima", "category": "geo"}) + "\n\n"
    )
    (tmp_path / "s.yaml").write_text(
        "name: t\ntask: summarization\ndata: data.jsonl\nmodels: [a, b]\nmetrics: [robustness, faithfulness]\n"
    )
    loaded = spec.load_spec(tmp_path / "s.yaml")
    assert loaded.spec.metrics == ["accuracy", "robustness", "faithfulness"]  # robustness needs accuracy
    assert loaded.items == [spec.Item("Capital of Peru?", "Lima", "geo")]
    criteria = spec.testing_criteria(loaded.spec, "judge-model")
    assert [c["name"] for c in criteria] == ["accuracy", "faithfulness"]
    assert criteria[0]["type"] == "text_similarity" and criteria[0]["evaluation_metric"] == "rouge_l"
    judge = criteria[1]
    assert judge["type"] == "score_model" and judge["model"] == "judge-model" and judge["range"] == [1.0, 5.0]
    asked = judge["input"][1]["content"]
    assert "{{item.context}}" in asked and "{{sample.output_text}}" in asked
    assert spec.normalise("faithfulness", 4.0) == 0.75 and spec.normalise("accuracy", 1.2) == 1.0


@pytest.mark.parametrize(
    ("yaml_text", "data", "why"),
    [
        ("name: t\ndata: d.jsonl\nmodels: [a]\nmetrics: [bleu]\n", '{"prompt": "p", "reference": "r"}', "unknown"),
        ("name: t\ndata: d.jsonl\nmodels: [a, a]\n", '{"prompt": "p", "reference": "r"}', "distinct"),
        ("name: t\ndata: d.jsonl\nmodels: [a]\nfoo: 1\n", '{"prompt": "p", "reference": "r"}', "foo"),
        ("name: t\ndata: d.jsonl\nmodels: [a]\n", '{"prompt": "p"}', "no referenceResponse"),
        ("name: t\ndata: d.jsonl\nmodels: [a]\n", '{"prompt": 5, "reference": "r"}', "prompt must be a string"),
        ("name: t\ndata: d.jsonl\nmodels: [a]\n", "[1]", "expected a JSON object"),
        ("name: t\ndata: missing.jsonl\nmodels: [a]\n", "", "No such file"),
        ("- a list\n", "", "a spec is a YAML mapping"),
    ],
)
def test_a_bad_spec_is_refused_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, data: str, why: str
) -> None:
    (tmp_path / "d.jsonl").write_text(data + "\n")
    (tmp_path / "s.yaml").write_text(yaml_text)
    # No server listens there: a spec error must come before any connection.
    assert main(["eval", "run", str(tmp_path / "s.yaml"), "--url", "http://127.0.0.1:9"]) == 2
    assert why in capsys.readouterr().err


def test_perturbations_are_seeded_and_change_every_prompt() -> None:
    items = [spec.Item(f"Please name the largest planet of system number {i} today", "x") for i in range(30)]
    once, again = spec.perturb(items, seed=7), spec.perturb(items, seed=7)
    assert once == again and spec.perturb(items, seed=8) != once
    assert {p.perturbation for p in once} == {"case", "typos", "whitespace"}
    assert all(p.prompt != i.prompt for p, i in zip(once, items, strict=True))
    assert all(p.reference == "x" for p in once)
    typo = next(p for p in once if p.perturbation == "typos")
    assert sorted(typo.prompt) == sorted(items[once.index(typo)].prompt)  # letters swapped, none lost


def test_a_copy_of_a_result_round_trips_through_load(tmp_path: Path) -> None:
    r = make_result()
    path = Path(write(tmp_path / "r.json", copy.deepcopy(r)))
    assert results.load(path)["scores"] == r["scores"]


def test_toxicity_is_what_the_content_filters_flag_in_an_answer() -> None:
    from basalt.evals.cli import toxicity_flags

    flags = toxicity_flags(["You are a worthless idiot and I hate you.", "The capital of France is Paris.", None])
    assert flags == [True, False, None]
