"""What a caller may send to the Evals API, bounded: an eval (a custom data-source config and testing criteria) and a
run (a data source: items inline or in an uploaded file, sampled by a model through a message template).

The shapes are the `openai` SDK's (types/eval_create_params.py, types/evals/run_create_params.py, types/graders/);
what Basalt cannot do is refused here with a 400 that says why (a `python` grader: see docs/evaluations.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from ..errors import InvalidRequest
from . import template
from .text_metrics import METRICS

MAX_CRITERIA = 16
MAX_MESSAGES = 64
MAX_TEXT = 64 * 1024  # one template string
MAX_LABELS = 64
MAX_INLINE_ITEMS = 10_000
Name = Annotated[StrictStr, Field(max_length=256)]
Text = Annotated[StrictStr, Field(max_length=MAX_TEXT)]
Number = StrictFloat | StrictInt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["input_text", "output_text"]
    text: Text


class Message(_Strict):
    """A template message: `{role, content}` (EasyInputMessage) or `{type: message, role, content}` (EvalItem)."""

    role: Literal["user", "assistant", "system", "developer"]
    content: Text | TextPart
    type: Literal["message"] | None = None

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else self.content.text


class CustomConfig(_Strict):
    type: Literal["custom"]
    item_schema: dict[str, Any]
    include_sample_schema: StrictBool = False


class StringCheck(_Strict):
    type: Literal["string_check"]
    name: Name
    input: Text
    reference: Text
    operation: Literal["eq", "ne", "like", "ilike"]


class TextSimilarity(_Strict):
    type: Literal["text_similarity"]
    name: Name
    input: Text
    reference: Text
    evaluation_metric: StrictStr
    pass_threshold: Number


class JudgeParams(_Strict):
    """score_model's sampling_params (the SDK's own spelling: max_completions_tokens)."""

    max_completions_tokens: StrictInt | None = Field(default=None, ge=1, le=4096)
    seed: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1)
    temperature: Number | None = Field(default=None, ge=0, le=2)
    top_p: Number | None = Field(default=None, ge=0, le=1)
    reasoning_effort: StrictStr | None = None


class LabelModel(_Strict):
    type: Literal["label_model"]
    name: Name
    model: Name | None = None  # None: the local model
    input: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    labels: list[Annotated[StrictStr, Field(min_length=1, max_length=256)]] = Field(min_length=1, max_length=MAX_LABELS)
    passing_labels: list[StrictStr] = Field(min_length=1, max_length=MAX_LABELS)


class ScoreModel(_Strict):
    type: Literal["score_model"]
    name: Name
    model: Name | None = None
    input: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    range: list[Number] | None = Field(default=None, min_length=2, max_length=2)
    pass_threshold: Number | None = None
    sampling_params: JudgeParams | None = None


Criterion = StringCheck | TextSimilarity | LabelModel | ScoreModel
CRITERIA: dict[str, type[Criterion]] = {
    "string_check": StringCheck,
    "text_similarity": TextSimilarity,
    "label_model": LabelModel,
    "score_model": ScoreModel,
}
JUDGES = ("label_model", "score_model")


class NewEval(_Strict):
    name: Name = ""
    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_CRITERIA)
    metadata: dict[StrictStr, StrictStr] | None = None


class EvalUpdate(_Strict):
    name: Name | None = None
    metadata: dict[StrictStr, StrictStr] | None = None


class SourceItem(_Strict):
    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContent(_Strict):
    type: Literal["file_content"]
    content: list[SourceItem] = Field(max_length=MAX_INLINE_ITEMS)


class FileId(_Strict):
    type: Literal["file_id"]
    id: Annotated[StrictStr, Field(max_length=100)]


Source = Annotated[FileContent | FileId, Field(discriminator="type")]


class Template(_Strict):
    type: Literal["template"]
    template: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)


class ItemReference(_Strict):
    type: Literal["item_reference"]
    item_reference: Annotated[StrictStr, Field(max_length=256)]


class SamplingParams(_Strict):
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1, le=32_768)
    seed: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1)
    temperature: Number | None = Field(default=None, ge=0, le=2)
    top_p: Number | None = Field(default=None, ge=0, le=1)
    reasoning_effort: StrictStr | None = None


class Completions(_Strict):
    type: Literal["completions"]
    model: Name
    source: Source
    input_messages: Annotated[Template | ItemReference, Field(discriminator="type")] | None = None
    sampling_params: SamplingParams | None = None


class Jsonl(_Strict):
    """Items that bring their own `sample` (e.g. {"output_text": ...}): graded, not sampled."""

    type: Literal["jsonl"]
    source: Source


class NewRun(_Strict):
    name: Name = ""
    data_source: Annotated[Completions | Jsonl, Field(discriminator="type")]
    metadata: dict[StrictStr, StrictStr] | None = None


def parse(model: type[_Strict], body: bytes | dict[str, Any]) -> Any:
    """The body as `model`, or a 400 naming each bad field."""
    try:
        if isinstance(body, dict):
            return model.model_validate(body)
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:8])
        raise InvalidRequest(problems) from None


def check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    metadata = metadata or {}
    if len(metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in metadata.items()):
        raise InvalidRequest("metadata: at most 16 pairs, keys of 64 characters and values of 512.", param="metadata")
    return metadata


def data_source_config(raw: dict[str, Any]) -> CustomConfig:
    kind = raw.get("type")
    if kind in ("logs", "stored_completions"):
        raise InvalidRequest(
            f"data_source_config.type {kind!r}: Basalt stores no completions to evaluate; use 'custom'.",
            param="data_source_config",
        )
    config: CustomConfig = parse(CustomConfig, raw)
    if len(repr(config.item_schema)) > MAX_TEXT:
        raise InvalidRequest("data_source_config.item_schema is too large", param="data_source_config")
    return config


def criteria(raw: list[dict[str, Any]]) -> list[Criterion]:
    """Each testing criterion parsed by its type, with its templates checked; names must differ."""
    found: list[Criterion] = []
    for i, item in enumerate(raw):
        kind = item.get("type")
        where = f"testing_criteria.{i}"
        if kind == "python":
            raise InvalidRequest(
                f"{where}: python graders are not supported: arbitrary code cannot be sandboxed inside the server "
                "process (see docs/evaluations.md); use string_check, text_similarity, label_model or score_model.",
                param="testing_criteria",
            )
        if kind == "multi":
            raise InvalidRequest(f"{where}: multi graders are not supported.", param="testing_criteria")
        model = CRITERIA.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise InvalidRequest(f"{where}.type: one of {', '.join(CRITERIA)}", param="testing_criteria")
        criterion = parse(model, item)
        _check_criterion(criterion, where)
        found.append(criterion)
    names = [c.name for c in found]
    if len(set(names)) != len(names):
        raise InvalidRequest("testing_criteria: each criterion needs its own name.", param="testing_criteria")
    return found


def _check_criterion(criterion: Criterion, where: str) -> None:
    if isinstance(criterion, StringCheck | TextSimilarity):
        template.check(criterion.input, f"{where}.input")
        template.check(criterion.reference, f"{where}.reference")
    if isinstance(criterion, TextSimilarity) and criterion.evaluation_metric not in METRICS:
        raise InvalidRequest(f"{where}.evaluation_metric: one of {', '.join(METRICS)}", param="testing_criteria")
    if isinstance(criterion, LabelModel | ScoreModel):
        for j, message in enumerate(criterion.input):
            template.check(message.text, f"{where}.input.{j}")
    if isinstance(criterion, LabelModel):
        unknown = sorted(set(criterion.passing_labels) - set(criterion.labels))
        if unknown:
            raise InvalidRequest(f"{where}.passing_labels: {unknown} are not labels", param="testing_criteria")
    if isinstance(criterion, ScoreModel) and criterion.range is not None:
        low, high = criterion.range
        if not low < high:
            raise InvalidRequest(f"{where}.range: the first bound must be below the second", param="testing_criteria")
