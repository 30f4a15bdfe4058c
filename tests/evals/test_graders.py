"""Graders, templates and text metrics alone: what each computes, checked against the libraries themselves, and the
judges' answers read tolerantly but never past their bounds."""

from __future__ import annotations

from typing import Any

import pytest
import sacrebleu
from rapidfuzz import fuzz
from rouge_score import rouge_scorer

from basalt.errors import InvalidRequest
from basalt.evals import graders, spec, template, text_metrics


def test_templates_render_paths_json_and_nothing_for_a_missing_path() -> None:
    scope = {
        "item": {"q": "Why?", "n": 3, "tags": ["a", "b"], "deep": {"x": {"y": "z"}}},
        "sample": {"output_text": "ok"},
    }
    assert template.render("{{item.q}} {{ item.n }} {{item.tags}} {{item.tags.1}}", scope) == 'Why? 3 ["a","b"] b'
    assert template.render("{{item.deep.x.y}}|{{item.none.at.all}}|{{sample.output_text}}", scope) == "z||ok"
    with pytest.raises(InvalidRequest, match="namespace"):
        template.check("{{items.q}}", "input")
    with pytest.raises(InvalidRequest, match="longer than"):
        template.render("{{item.q}}" * 10, {"item": {"q": "x" * (template.MAX_RENDERED // 5)}})


@pytest.mark.parametrize(
    ("operation", "given", "reference", "passed"),
    [("eq", "Paris", "Paris", True), ("eq", "Paris", "paris", False), ("ne", "a", "b", True),
     ("like", "It is Paris.", "Paris", True), ("like", "It is paris.", "Paris", False),
     ("ilike", "It is PARIS.", "paris", True), ("ilike", "Lyon", "paris", False)],
)  # fmt: skip
def test_string_check(operation: str, given: str, reference: str, passed: bool) -> None:
    criterion = spec.StringCheck(type="string_check", name="s", input="{{sample.output_text}}",
                                 reference="{{item.r}}", operation=operation)  # type: ignore[arg-type]  # fmt: skip
    found = graders.string_check(criterion, graders.scope({"r": reference}, {"output_text": given}))
    assert found["passed"] is passed and found["score"] == (1.0 if passed else 0.0)


def test_text_metrics_are_the_libraries_scores() -> None:
    out, ref = "the quick brown fox jumps over the dog", "the quick brown fox jumped over the lazy dog"
    assert text_metrics.similarity("bleu", out, ref) == pytest.approx(
        sacrebleu.sentence_bleu(out, [ref]).score / 100, abs=1e-9
    )
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    expected = scorer.score(ref, out)
    assert text_metrics.similarity("rouge_1", out, ref) == pytest.approx(expected["rouge1"].fmeasure)
    assert text_metrics.similarity("rouge_2", out, ref) == pytest.approx(expected["rouge2"].fmeasure)
    assert text_metrics.similarity("rouge_l", out, ref) == pytest.approx(expected["rougeL"].fmeasure)
    assert text_metrics.similarity("fuzzy_match", out, ref) == pytest.approx(fuzz.ratio(out, ref) / 100)
    for metric in text_metrics.METRICS:
        same = text_metrics.similarity(metric, ref, ref)
        far = text_metrics.similarity(metric, out, "completely unrelated words here")
        assert same == pytest.approx(1.0, abs=1e-3) and 0 <= far < same, metric
    with pytest.raises(ValueError):
        text_metrics.scores("rouge_9", [("a", "b")])


def test_cosine_ranks_a_paraphrase_above_an_unrelated_text() -> None:
    close, far = text_metrics.cosine_many([("A cat sat on the mat.", "The cat is sitting on a mat."),
                                           ("A cat sat on the mat.", "Stock markets fell sharply today.")])  # fmt: skip
    assert close > 0.7 > 0.3 > far


def judge(kind: str, **more: Any) -> Any:
    base = {"name": "j", "input": [{"role": "user", "content": "{{sample.output_text}}"}]}
    if kind == "label":
        return spec.LabelModel(type="label_model", labels=["good", "bad", "very good"], passing_labels=["good"],
                               **base, **more)  # fmt: skip
    return spec.ScoreModel(type="score_model", range=[1, 7], pass_threshold=4, **base, **more)


@pytest.mark.parametrize(
    ("answer", "label"),
    [('{"label": "bad"}', "bad"), ("I think it is very good overall", "very good"), ("Good.", "good"),
     ('{"label": "nope"} but good', "good"), ("neither", None), (None, None)],
)  # fmt: skip
def test_label_judges_answers(answer: str | None, label: str | None) -> None:
    criterion = judge("label")
    found = graders.judge_grade(criterion, [{"role": "user", "content": "x"}], answer, "boom", "m")
    assert found["sample"]["input"] == [{"role": "user", "content": "x"}] and found["sample"]["output"] == answer
    if label is None:
        assert "error" in found and found["passed"] is False
    else:
        assert found["sample"]["label"] == label and found["passed"] == (label == "good")


@pytest.mark.parametrize(
    ("answer", "score", "passed"),
    [('{"score": 5}', 5.0, True), ("score: 2.5", 2.5, False), ('{"score": 9}', None, False), ("none", None, False),
     ('{"score": true}', None, False)],
)  # fmt: skip
def test_score_judges_answers(answer: str, score: float | None, passed: bool) -> None:
    found = graders.judge_grade(judge("score"), [], answer, None, "m")
    assert found["passed"] is passed
    assert ("error" in found) is (score is None) and (score is None or found["score"] == score)


def test_judge_requests_are_bounded_and_constrained() -> None:
    criterion = judge("score", sampling_params={"seed": 7})
    messages = graders.judge_messages(criterion, graders.scope({}, {"output_text": "hi"}))
    assert messages[0] == {"role": "user", "content": "hi"} and "from 1 to 7" in messages[-1]["content"]
    body = graders.judge_request(criterion, "smollm2", messages)
    assert body["max_tokens"] == graders.JUDGE_MAX_TOKENS and body["temperature"] == 0 and body["seed"] == 7
    assert body["output_config"]["format"]["schema"]["properties"]["score"] == {"type": "integer", "minimum": 1,
                                                                                "maximum": 7}  # fmt: skip
    assert body["system"] == messages[-1]["content"] and body["messages"] == [{"role": "user", "content": "hi"}]


def test_criteria_are_checked() -> None:
    good = {"type": "string_check", "name": "a", "input": "x", "reference": "y", "operation": "eq"}
    assert [c.name for c in spec.criteria([good])] == ["a"]
    with pytest.raises(InvalidRequest, match="own name"):
        spec.criteria([good, good])
    with pytest.raises(InvalidRequest, match="sandboxed"):
        spec.criteria([{"type": "python", "name": "p", "source": "import os"}])
    with pytest.raises(InvalidRequest, match="passing_labels"):
        spec.criteria([{"type": "label_model", "name": "l", "input": [{"role": "user", "content": "x"}],
                        "labels": ["a"], "passing_labels": ["b"]}])  # fmt: skip
    with pytest.raises(InvalidRequest, match="range"):
        spec.criteria([{"type": "score_model", "name": "s", "input": [{"role": "user", "content": "x"}],
                        "range": [3, 1]}])  # fmt: skip
