"""Graders: each testing criterion turned into a score and a pass for one item, given the item and its sample.

string_check and text_similarity are computed here (CPU work: `grade` runs off the event loop). label_model and
score_model are judges: `judge_request` is the call each item makes to the judge model (any Basalt model, the local
one by default, at temperature 0 unless told otherwise, its answer constrained to a small JSON object where the
provider can constrain it), and `judge_grade` reads the judge's answer, bounded and tolerant (the JSON object first,
then a label or a number in the text), keeping the whole judge prompt and answer in the result's `sample`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from . import template, text_metrics
from .spec import Criterion, LabelModel, Message, ScoreModel, StringCheck, TextSimilarity

JUDGE_MAX_TOKENS = 64  # a label or a score needs a handful of tokens; bounds a rambling judge
MAX_JUDGE_TEXT = 4096  # what of a judge's answer is read
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
Result = dict[str, Any]


def scope(item: Mapping[str, Any], sample: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"item": item, "sample": sample or {}}


def string_check(criterion: StringCheck, names: Mapping[str, Any]) -> Result:
    given, reference = template.render(criterion.input, names), template.render(criterion.reference, names)
    operation = criterion.operation
    if operation == "eq":
        passed = given == reference
    elif operation == "ne":
        passed = given != reference
    elif operation == "like":
        passed = reference in given
    else:
        passed = reference.lower() in given.lower()
    return result(criterion, 1.0 if passed else 0.0, passed)


def result(criterion: Criterion, score: float, passed: bool, sample: dict[str, Any] | None = None) -> Result:
    return {"name": criterion.name, "type": criterion.type, "score": score, "passed": passed, "sample": sample}


def errored(criterion: Criterion, message: str, sample: dict[str, Any] | None = None) -> Result:
    return {**result(criterion, 0.0, False, {**(sample or {}), "error": message}), "error": message}


def similarity_all(criterion: TextSimilarity, scopes: Sequence[Mapping[str, Any]]) -> list[Result]:
    """One criterion over every item at once (cosine embeds them in one pass of the model)."""
    pairs = [(template.render(criterion.input, s), template.render(criterion.reference, s)) for s in scopes]
    found = text_metrics.scores(criterion.evaluation_metric, pairs)
    threshold = float(criterion.pass_threshold)
    return [result(criterion, score, score >= threshold) for score in found]


# Judges -------------------------------------------------------------------------------------------------------


def bounds(criterion: ScoreModel) -> tuple[float, float]:
    low, high = criterion.range or (0.0, 1.0)
    return float(low), float(high)


def _instruction(criterion: LabelModel | ScoreModel) -> str:
    if isinstance(criterion, LabelModel):
        labels = ", ".join(orjson.dumps(label).decode() for label in criterion.labels)
        return f'Answer with a JSON object {{"label": L}} where L is exactly one of: {labels}.'
    low, high = bounds(criterion)
    return f'Answer with a JSON object {{"score": S}} where S is a number from {low:g} to {high:g}.'


def _schema(criterion: LabelModel | ScoreModel) -> dict[str, Any]:
    if isinstance(criterion, LabelModel):
        value: dict[str, Any] = {"type": "string", "enum": list(criterion.labels)}
        key = "label"
    else:
        low, high = bounds(criterion)
        whole = low.is_integer() and high.is_integer() and high - low <= 100
        value = {"type": "integer", "minimum": int(low), "maximum": int(high)} if whole else {"type": "number"}
        key = "score"
    return {"type": "object", "properties": {key: value}, "required": [key], "additionalProperties": False}


def judge_messages(criterion: LabelModel | ScoreModel, names: Mapping[str, Any]) -> list[dict[str, str]]:
    """The judge's prompt as recorded: the grader's messages rendered, then the answer format Basalt asks for."""
    rendered = [{"role": m.role, "content": template.render(m.text, names)} for m in criterion.input]
    return [*rendered, {"role": "system", "content": _instruction(criterion)}]


def judge_request(criterion: LabelModel | ScoreModel, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    """The canonical (Anthropic-shaped) request a judge call makes."""
    params = criterion.sampling_params if isinstance(criterion, ScoreModel) else None
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": (params.max_completions_tokens if params else None) or JUDGE_MAX_TOKENS,
        "temperature": params.temperature if params and params.temperature is not None else 0.0,
        "output_config": {"format": {"type": "json_schema", "schema": _schema(criterion)}},
        **_conversation(messages),
    }
    if params and params.top_p is not None:
        body["top_p"] = params.top_p
    if params and params.seed is not None:
        body["seed"] = params.seed
    return body


def _conversation(messages: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """System and developer messages become the system prompt; the others the conversation (a user turn at least)."""
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    talk = [m for m in messages if m["role"] in ("user", "assistant")]
    turns = [{"role": m["role"], "content": m["content"] or " "} for m in talk]
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "Evaluate."})
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = "\n\n".join(system)
    return out


def conversation(messages: Sequence[Message], names: Mapping[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """A sampling template rendered for one item: the messages as recorded, and the request's system + messages."""
    rendered = [{"role": m.role, "content": template.render(m.text, names)} for m in messages]
    return rendered, _conversation(rendered)


def _answer_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        found = orjson.loads(text[start : end + 1])
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def judge_grade(criterion: LabelModel | ScoreModel, messages: list[dict[str, str]], answer: str | None,
                error: str | None, model: str) -> Result:  # fmt: skip
    """The grade from a judge's answer (None with `error` when the judge call failed)."""
    sample: dict[str, Any] = {"model": model, "input": messages, "output": answer}
    if answer is None:
        return errored(criterion, error or "the judge gave no answer", sample)
    text = answer[:MAX_JUDGE_TEXT]
    found = _answer_object(text) or {}
    if isinstance(criterion, LabelModel):
        label = found.get("label")
        if not isinstance(label, str) or label not in criterion.labels:
            label = _label_in(text, criterion.labels)
        if label is None:
            return errored(criterion, "the judge's answer names none of the labels", sample)
        passed = label in criterion.passing_labels
        return result(criterion, 1.0 if passed else 0.0, passed, {**sample, "label": label})
    score = found.get("score", found.get("result"))
    if not isinstance(score, int | float) or isinstance(score, bool):
        number = _NUMBER.search(text)
        score = float(number.group()) if number else None
    low, high = bounds(criterion)
    if score is None or not math.isfinite(score) or not low <= score <= high:
        return errored(criterion, f"the judge's answer holds no score from {low:g} to {high:g}", sample)
    threshold = float(criterion.pass_threshold) if criterion.pass_threshold is not None else (low + high) / 2
    return result(criterion, float(score), float(score) >= threshold, sample)


def _label_in(text: str, labels: Sequence[str]) -> str | None:
    """The label the text names first (longest first where one label contains another), case-insensitively."""
    lowered = text.lower()
    best: tuple[int, int, str] | None = None
    for label in labels:
        at = re.search(r"(?<!\w)" + re.escape(label.lower()) + r"(?!\w)", lowered)
        if at is not None and (best is None or (at.start(), -len(label)) < best[:2]):
            best = (at.start(), -len(label), label)
    return best[2] if best else None
