"""The OpenAI Evals API end to end: the unmodified `openai` SDK against a real `basalt serve` (auth on) on the real
bundled model and a fake upstream: an eval, runs against two models over an uploaded file and inline items, their
output items with samples and grades; the same run twice at temperature 0 gives the same scores; a judge on the
local model; cancel; tenant isolation; bad requests in OpenAI's error shape."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from ..control.servers import Server
from .conftest import all_output_items, upload_jsonl, wait_run

ITEMS = [
    {"question": "What is the capital of France?", "expected": "Paris"},
    {"question": "Say hello.", "expected": "hello"},
    {"question": "What is 2 + 2?", "expected": "4"},
    {"question": "Name a colour.", "expected": "blue"},
]
CRITERIA: list[Any] = [
    {"type": "string_check", "name": "mentions", "input": "{{sample.output_text}}",
     "reference": "{{item.expected}}", "operation": "ilike"},
    {"type": "text_similarity", "name": "close", "input": "{{sample.output_text}}", "reference": "{{item.expected}}",
     "evaluation_metric": "fuzzy_match", "pass_threshold": 0.05},
]  # fmt: skip
SCHEMA = {"type": "object", "properties": {"question": {"type": "string"}, "expected": {"type": "string"}},
          "required": ["question", "expected"]}  # fmt: skip
TEMPLATE = {"type": "template", "template": [
    {"role": "system", "content": "Answer in a few words."},
    {"role": "user", "content": "{{item.question}}"},
]}  # fmt: skip


def make_eval(client: openai.OpenAI, criteria: list[Any] = CRITERIA) -> Any:
    return client.evals.create(
        name="qa",
        data_source_config={"type": "custom", "item_schema": SCHEMA, "include_sample_schema": True},
        testing_criteria=criteria,
    )


def completions(model: str, source: dict[str, Any], **params: Any) -> Any:
    sampling = {"temperature": 0, "max_completion_tokens": 6, **params}
    return {"type": "completions", "model": model, "input_messages": TEMPLATE, "source": source,
            "sampling_params": sampling}  # fmt: skip


def inline(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "file_content", "content": [{"item": item} for item in items]}


def test_runs_against_two_models_with_output_items(eval_client: openai.OpenAI) -> None:
    made = make_eval(eval_client)
    assert made.object == "eval" and made.id.startswith("eval_")
    assert made.data_source_config.schema_["properties"]["item"] == SCHEMA
    assert [c.name for c in made.testing_criteria] == ["mentions", "close"]
    file_id = upload_jsonl(eval_client, [{"item": item} for item in ITEMS])
    local = eval_client.evals.runs.create(
        made.id, name="local", data_source=completions("smollm2", {"type": "file_id", "id": file_id})
    )
    remote = eval_client.evals.runs.create(made.id, name="remote", data_source=completions("m", inline(ITEMS)))
    assert local.status in ("queued", "in_progress") and local.result_counts.total == 4
    assert local.model_extra is not None and local.model_extra["progress"]["samples"]["total"] == 4
    for run in (local, remote):
        done = wait_run(eval_client, made.id, run.id)
        assert done.status == "completed", done
        counts = done.result_counts
        assert counts.total == 4 and counts.passed + counts.failed + counts.errored == 4 and counts.errored == 0
        assert [r.testing_criteria for r in done.per_testing_criteria_results] == ["mentions", "close"]
        assert done.per_model_usage[0].model_name == run.data_source.model
        assert done.per_model_usage[0].invocation_count == 4
        items = all_output_items(eval_client, made.id, run.id)
        assert [i.datasource_item_id for i in items] == [0, 1, 2, 3]
        assert [i.datasource_item for i in items] == ITEMS
        for item in items:
            assert item.sample.model == run.data_source.model
            assert item.sample.input[-1].content == item.datasource_item["question"]
            assert item.sample.output[0].content
            assert item.sample.usage.completion_tokens > 0
            assert [r.name for r in item.results] == ["mentions", "close"]
            text = item.sample.output[0].content
            assert item.results[0].passed == (item.datasource_item["expected"].lower() in text.lower())
            assert item.status == ("pass" if all(r.passed for r in item.results) else "fail")
        one = eval_client.evals.runs.output_items.retrieve(items[1].id, eval_id=made.id, run_id=run.id)
        assert one.id == items[1].id and one.sample.output[0].content == items[1].sample.output[0].content
    remote_items = all_output_items(eval_client, made.id, remote.id)
    assert all(i.sample.output[0].content == "Hello from the fake upstream." for i in remote_items)
    assert [i.results[0].passed for i in remote_items] == [False, True, False, False]  # "hello" is in it
    passed = eval_client.evals.runs.output_items.list(remote.id, eval_id=made.id, status="pass")
    assert [i.datasource_item_id for i in passed] == [1]
    runs = eval_client.evals.runs.list(made.id)
    assert [r.id for r in runs] == [local.id, remote.id]


def test_the_same_run_twice_at_temperature_zero_scores_the_same(eval_client: openai.OpenAI) -> None:
    bleu = {"type": "text_similarity", "name": "bleu", "input": "{{sample.output_text}}",
            "reference": "{{item.question}}", "evaluation_metric": "bleu", "pass_threshold": 0.5}  # fmt: skip
    made = make_eval(eval_client, [*CRITERIA, bleu])
    runs = [
        eval_client.evals.runs.create(made.id, data_source=completions("smollm2", inline(ITEMS[:3]))) for _ in range(2)
    ]
    scores = []
    for run in runs:
        assert wait_run(eval_client, made.id, run.id).status == "completed"
        items = all_output_items(eval_client, made.id, run.id)
        scores.append([(i.sample.output[0].content, [r.score for r in i.results]) for i in items])
    assert scores[0] == scores[1]
    assert len(scores[0]) == 3


@pytest.mark.timeout(900)
def test_a_judge_grader_runs_on_the_local_model(eval_client: openai.OpenAI) -> None:
    judge_prompt = [{"role": "system", "content": "You grade answers."},
                    {"role": "user", "content": "Question: {{item.question}}\nAnswer: {{sample.output_text}}\n"
                                                "Expected: {{item.expected}}. Is the answer right?"}]  # fmt: skip
    criteria: list[Any] = [
        {"type": "label_model", "name": "right", "model": "smollm2", "input": judge_prompt,
         "labels": ["correct", "incorrect"], "passing_labels": ["correct"]},
        {"type": "score_model", "name": "quality", "input": judge_prompt, "range": [0, 10], "pass_threshold": 5},
    ]  # fmt: skip
    made = make_eval(eval_client, criteria)
    run = eval_client.evals.runs.create(made.id, data_source=completions("smollm2", inline(ITEMS[:1])))
    done = wait_run(eval_client, made.id, run.id, 600)  # constrained judge calls: slow on a loaded machine
    assert done.status == "completed" and done.result_counts.errored == 0, done
    assert {u.model_name for u in done.per_model_usage} == {"smollm2", "smollm2-135m-instruct"}
    for item in all_output_items(eval_client, made.id, run.id):
        label, score = item.results
        assert label.sample["label"] in ("correct", "incorrect")
        assert label.passed == (label.sample["label"] == "correct")
        assert 0 <= score.score <= 10 and score.passed == (score.score >= 5)
        for result in (label, score):
            prompt = result.sample["input"]
            assert prompt[1]["content"].startswith(f"Question: {item.datasource_item['question']}\nAnswer: ")
            assert item.sample.output[0].content in prompt[1]["content"]
            assert "JSON" in prompt[-1]["content"] and result.sample["output"]


def test_cancel_a_run(eval_client: openai.OpenAI) -> None:
    made = make_eval(eval_client)
    many = [{"question": f"Count to {n}.", "expected": str(n)} for n in range(150)]
    run = eval_client.evals.runs.create(made.id, data_source=completions("smollm2", inline(many)))
    canceled = eval_client.evals.runs.cancel(run.id, eval_id=made.id)
    assert canceled.status == "canceled"
    assert wait_run(eval_client, made.id, run.id).status == "canceled"
    with pytest.raises(openai.BadRequestError):
        eval_client.evals.runs.cancel(run.id, eval_id=made.id)
    assert eval_client.evals.runs.delete(run.id, eval_id=made.id).deleted
    with pytest.raises(openai.NotFoundError):
        eval_client.evals.runs.retrieve(run.id, eval_id=made.id)


def test_another_project_sees_nothing(
    eval_server: Server, eval_client: openai.OpenAI, eval_keys: tuple[str, str]
) -> None:
    made = make_eval(eval_client)
    graded_only = {"type": "jsonl", "source": {"type": "file_content", "content": [
        {"item": ITEMS[0], "sample": {"output_text": "Paris", "model": "given"}}]}}  # fmt: skip
    run = eval_client.evals.runs.create(made.id, data_source=graded_only)  # type: ignore[arg-type]
    assert wait_run(eval_client, made.id, run.id).result_counts.passed == 1  # graded from the item's own sample
    other = openai.OpenAI(base_url=eval_server.url + "/v1", api_key=eval_keys[1], max_retries=0)
    for call in (
        lambda: other.evals.retrieve(made.id),
        lambda: other.evals.runs.retrieve(run.id, eval_id=made.id),
        lambda: other.evals.runs.list(made.id),
        lambda: other.evals.runs.output_items.list(run.id, eval_id=made.id),
        lambda: other.evals.runs.create(made.id, data_source=completions("m", inline(ITEMS[:1]))),
        lambda: other.evals.delete(made.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert made.id not in [e.id for e in other.evals.list()]
    assert made.id in [e.id for e in eval_client.evals.list(limit=100)]


@pytest.mark.parametrize(
    ("criterion", "error", "says"),
    [
        ({"type": "python", "name": "p", "source": "def grade(s, i): return 1"}, openai.BadRequestError, "sandboxed"),
        ({"type": "text_similarity", "name": "t", "input": "x", "reference": "y", "evaluation_metric": "nope",
          "pass_threshold": 1}, openai.BadRequestError, "evaluation_metric"),
        ({"type": "string_check", "name": "s", "input": "{{items.x}}", "reference": "y", "operation": "eq"},
         openai.BadRequestError, "namespace"),
        ({"type": "label_model", "name": "l", "model": "no-such-model", "input": [{"role": "user", "content": "x"}],
          "labels": ["a"], "passing_labels": ["a"]}, openai.NotFoundError, "no-such-model"),
    ],
)  # fmt: skip
def test_bad_evals_are_refused(eval_client: openai.OpenAI, criterion: Any, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        make_eval(eval_client, [criterion])


def test_bad_runs_are_refused(eval_client: openai.OpenAI) -> None:
    made = make_eval(eval_client)
    with pytest.raises(openai.BadRequestError, match="at most 200 items"):
        eval_client.evals.runs.create(made.id, data_source=completions("m", inline(ITEMS * 51)))
    with pytest.raises(openai.BadRequestError, match="item_schema"):
        eval_client.evals.runs.create(made.id, data_source=completions("m", inline([{"question": 1}])))
    with pytest.raises(openai.NotFoundError, match="no-such"):
        eval_client.evals.runs.create(made.id, data_source=completions("no-such", inline(ITEMS)))
    with pytest.raises(openai.NotFoundError):
        eval_client.evals.runs.create(
            made.id, data_source=completions("m", {"type": "file_id", "id": "file-" + "0" * 24})
        )
    with pytest.raises(openai.NotFoundError):
        eval_client.evals.runs.retrieve("evalrun_nope", eval_id=made.id)
