"""A run's samples read back from its batches, the judges' calls made from them, and the grading of every item.

Everything here is recomputed from what is stored (the items, the batches' answers), so it may run again after a
crash and give the same grades. The CPU work (templates, text metrics, embeddings) runs on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..batches import ItemResult, NewItem
from ..canonical import parse_messages_request
from ..errors import BasaltError
from . import graders, sources, spec
from .store import Row

if TYPE_CHECKING:
    from .runs import Evals

PAGE = 1000


async def _answers(evals: Evals, batch_id: str | None) -> dict[str, ItemResult]:
    """A batch's finished items by custom_id."""
    found: dict[str, ItemResult] = {}
    if not batch_id:
        return found
    after = -1
    while True:
        page = await evals.batches.store.results(batch_id, after, PAGE)
        found.update((r.custom_id, r) for r in page)
        if len(page) < PAGE:
            return found
        after = page[-1].position


class _Samples:
    """Each item's sample (OpenAI's Sample record) and the namespace its graders see, or None where it failed."""

    def __init__(self, evals: Evals, run: Row, items: list[Row], answers: dict[str, ItemResult]) -> None:
        parsed: spec.NewRun = spec.parse(spec.NewRun, {"data_source": run["data_source"]})
        self.source = parsed.data_source
        self.max_tokens = evals.settings.max_tokens
        self.items = items
        self.answers = answers

    def build(self) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
        """Per item: (the sample record, the grading namespace or None if the sample errored)."""
        out: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
        source = self.source
        if isinstance(source, spec.Jsonl):
            for row in self.items:
                given = row["item"].get("sample") or {}
                out.append((given, sources.sample_namespace({"output_text": "", **given})))
            return out
        params = source.sampling_params or spec.SamplingParams()
        requests = sources.sample_requests(source, [row["item"] for row in self.items], self.max_tokens)
        for row, asked in zip(self.items, requests, strict=True):
            answer = self.answers.get(str(row["position"]))
            request = (
                asked.request.model_dump(mode="json", exclude_unset=True, by_alias=True) if asked.request else None
            )
            message = answer.message if answer is not None and answer.status == "succeeded" else None
            error = None if message is not None else _error_of(answer, asked)
            record = sources.sample_record(request, message, error, source.model, params, self.max_tokens)
            out.append((record, sources.sample_namespace(record) if error is None else None))
        return out


def _error_of(answer: ItemResult | None, asked: NewItem) -> dict[str, Any]:
    if asked.error is not None:
        return {"type": asked.error.error_type, "message": asked.error.message}
    if answer is None:
        return {"type": "canceled", "message": "the sample was not taken"}
    if answer.error is not None:
        return answer.error
    return {"type": answer.status, "message": f"the sample was {answer.status}"}


def _judges(criteria: Sequence[spec.Criterion]) -> list[tuple[int, spec.LabelModel | spec.ScoreModel]]:
    return [(i, c) for i, c in enumerate(criteria) if isinstance(c, spec.LabelModel | spec.ScoreModel)]


async def judge_items(evals: Evals, run: Row, criteria: Sequence[spec.Criterion]) -> list[NewItem]:
    """One judge call per item with a sample and per model grader; custom_id "<position>.<criterion index>"."""
    items = await evals.store.source_items(run["id"])
    answers = await _answers(evals, run["sample_batch"])
    samples = _Samples(evals, run, items, answers)
    local = evals.local_model()

    def build() -> list[NewItem]:
        made: list[NewItem] = []
        for row, (_, names) in zip(items, samples.build(), strict=True):
            if names is None:
                continue
            for index, criterion in _judges(criteria):
                messages = graders.judge_messages(criterion, graders.scope(row["item"]["item"], names))
                custom_id = f"{row['position']}.{index}"
                try:
                    body = graders.judge_request(criterion, criterion.model or local, messages)
                    made.append(NewItem(custom_id, sources.ENDPOINT, parse_messages_request(body)))
                except BasaltError as exc:
                    made.append(NewItem(custom_id, sources.ENDPOINT, None, exc))
        return made

    return await asyncio.to_thread(build)


async def grade_run(evals: Evals, run: Row, criteria: Sequence[spec.Criterion]) -> tuple[list[Row], dict[str, Any]]:
    """Every item's grades, and the run's summary (result_counts, per_testing_criteria_results, per_model_usage)."""
    items = await evals.store.source_items(run["id"])
    answers = await _answers(evals, run["sample_batch"])
    verdicts = await _answers(evals, run["judge_batch"])
    samples = _Samples(evals, run, items, answers)
    local = evals.local_model()
    return await asyncio.to_thread(_grade_all, items, samples, verdicts, list(criteria), local)


def _grade_all(
    items: list[Row], samples: _Samples, verdicts: dict[str, ItemResult], criteria: list[spec.Criterion], local: str
) -> tuple[list[Row], dict[str, Any]]:
    built = samples.build()
    graded_ok = [(row, names) for row, (_, names) in zip(items, built, strict=True) if names is not None]
    by_criterion: dict[int, list[dict[str, Any]]] = {}
    for index, criterion in enumerate(criteria):
        scopes = [graders.scope(row["item"]["item"], names) for row, names in graded_ok]
        if isinstance(criterion, spec.TextSimilarity):
            by_criterion[index] = graders.similarity_all(criterion, scopes)
        elif isinstance(criterion, spec.StringCheck):
            by_criterion[index] = [graders.string_check(criterion, s) for s in scopes]
        else:
            model = criterion.model or local
            found = []
            for (row, _), names in zip(graded_ok, scopes, strict=True):
                messages = graders.judge_messages(criterion, names)
                answer = verdicts.get(f"{row['position']}.{index}")
                text, error = _verdict(answer)
                found.append(graders.judge_grade(criterion, messages, text, error, model))
            by_criterion[index] = found
    results_of = {row["position"]: [by_criterion[i][k] for i in range(len(criteria))]
                  for k, (row, _) in enumerate(graded_ok)}  # fmt: skip
    graded: list[Row] = []
    for row, (record, _) in zip(items, built, strict=True):
        results = results_of.get(row["position"])
        if results is None or any("error" in r for r in results):
            status = "error"
        else:
            status = "pass" if all(r["passed"] for r in results) else "fail"
        graded.append({"position": row["position"], "status": status, "sample": record, "results": results or []})
    return graded, _summary(graded, criteria, samples, verdicts, local)


def _verdict(answer: ItemResult | None) -> tuple[str | None, str | None]:
    if answer is None:
        return None, "the judge call was not made"
    if answer.status != "succeeded" or answer.message is None:
        return None, (answer.error or {}).get("message") or f"the judge call was {answer.status}"
    return sources.output_text(answer.message), None


def _summary(graded: list[Row], criteria: list[spec.Criterion], samples: _Samples, verdicts: dict[str, ItemResult],
             local: str) -> dict[str, Any]:  # fmt: skip
    counts = {"total": len(graded), "errored": 0, "failed": 0, "passed": 0}
    for row in graded:
        counts[{"pass": "passed", "fail": "failed"}.get(row["status"], "errored")] += 1
    per_criterion = []
    for index, criterion in enumerate(criteria):
        passed = sum(1 for row in graded if row["results"] and row["results"][index]["passed"])
        tried = sum(1 for row in graded if row["results"])
        per_criterion.append({"testing_criteria": criterion.name, "passed": passed, "failed": tried - passed})
    usage: dict[str, dict[str, Any]] = {}
    source = samples.source
    if isinstance(source, spec.Completions):
        for row in graded:
            sample = row["sample"] or {}
            if sample.get("error") is None:
                _add_usage(usage, source.model, (sample.get("usage") or {}), openai_shape=True)
    judge_models = {f"{i}": (c.model or local) for i, c in _judges(criteria)}
    for custom_id, answer in verdicts.items():
        if answer.message is not None:
            model = judge_models.get(custom_id.partition(".")[2], local)
            _add_usage(usage, model, answer.message.get("usage") or {}, openai_shape=False)
    return {"result_counts": counts, "per_testing_criteria_results": per_criterion,
            "per_model_usage": list(usage.values())}  # fmt: skip


def _add_usage(usage: dict[str, dict[str, Any]], model: str, given: dict[str, Any], openai_shape: bool) -> None:
    entry = usage.setdefault(model, {"model_name": model, "invocation_count": 0, "prompt_tokens": 0,
                                     "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0})  # fmt: skip
    if openai_shape:
        prompt, completion = int(given.get("prompt_tokens", 0)), int(given.get("completion_tokens", 0))
        cached = int(given.get("cached_tokens", 0))
    else:
        cached = int(given.get("cache_read_input_tokens") or 0)
        prompt, completion = int(given.get("input_tokens", 0)) + cached, int(given.get("output_tokens", 0))
    entry["invocation_count"] += 1
    entry["prompt_tokens"] += prompt
    entry["completion_tokens"] += completion
    entry["total_tokens"] += prompt + completion
    entry["cached_tokens"] += cached
