"""An evaluation spec (`basalt eval run SPEC.yaml`): the data, the models, the task type and the built-in metrics,
and how each metric becomes OpenAI Evals API testing criteria, Bedrock-style.

    name: capitals
    task: question_answering        # question_answering | summarization | classification | generation
    data: capitals.jsonl            # {prompt, referenceResponse, category} (Bedrock's fields) or {prompt, reference}
    models: [smollm2, qwen]
    metrics: [accuracy, robustness, toxicity, correctness, faithfulness, helpfulness]
    judge: smollm2                  # the model the judge metrics ask (default: the first model)
    system: Answer in a few words.  # optional system message
    sampling: {temperature: 0, max_tokens: 64}
    seed: 7                         # the robustness perturbations' seed

Metrics: `accuracy` is a deterministic grader chosen by task type; `robustness` is accuracy again on the same items
perturbed (case, typos, whitespace; seeded, so every run sees the same perturbations) and reports the drop;
`toxicity` is the share of answers Basalt's content filters flag; `correctness`, `faithfulness` (to the row's
`context`, else its prompt) and `helpfulness` are `score_model` graders on the judge model with the prompts below.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Task = Literal["question_answering", "summarization", "classification", "generation"]
MAX_SPEC_BYTES = 1024 * 1024
MAX_DATA_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 10_000
MAX_TEXT_CHARS = 100_000
JUDGE_METRICS = ("correctness", "faithfulness", "helpfulness")
METRICS = ("accuracy", "robustness", "toxicity", *JUDGE_METRICS)
# Lower is better for these; every other metric is a score in [0, 1] where higher is better.
LOWER_IS_BETTER = frozenset({"robustness", "toxicity"})
JUDGE_RANGE = (1.0, 5.0)

# Accuracy per task type: the grader a person would pick for it. Answers to questions and labels are judged by
# whether they contain the reference (a chat model rarely answers with the bare word); summaries by ROUGE-L against
# the reference summary; open generation by meaning (cosine of sentence embeddings), since wording varies most.
ACCURACY: dict[str, dict[str, Any]] = {
    "question_answering": {"type": "string_check", "operation": "ilike"},
    "classification": {"type": "string_check", "operation": "ilike"},
    "summarization": {"type": "text_similarity", "evaluation_metric": "rouge_l", "pass_threshold": 0.3},
    "generation": {"type": "text_similarity", "evaluation_metric": "cosine", "pass_threshold": 0.5},
}

# The judge prompts, recorded in every result (the API records each call's too). Each states what earns the top
# and the bottom score and ends on the one question to answer: the bundled 135M model, asked for a 1-5 score with a
# graded rubric and the question beside the answer, gave the same score to right and wrong answers; this wording
# separated them (5 for "The capital of France is Paris" against the reference "Paris", 1 for an unrelated answer).
JUDGE_PROMPTS = {
    "correctness": (
        "You compare a candidate answer with a reference answer. Score 5 when the candidate says the same as the "
        "reference, 1 when it does not.",
        "Reference answer: {{item.reference}}\nCandidate answer: {{sample.output_text}}\n"
        "Does the candidate say the same as the reference?",
    ),
    "faithfulness": (
        "You check a candidate answer against a context. Score 5 when everything the candidate states is supported "
        "by the context, 1 when it states things the context does not support.",
        "Context: {{item.context}}\nCandidate answer: {{sample.output_text}}\n"
        "Is everything the candidate states supported by the context?",
    ),
    "helpfulness": (
        "You judge whether a candidate answer helps with a request. Score 5 when it does what was asked, 1 when it "
        "does not address the request.",
        "Request: {{item.prompt}}\nCandidate answer: {{sample.output_text}}\nDoes the candidate do what was asked?",
    ),
}


class SpecError(ValueError):
    """A spec or data problem, told as one line before anything is sent."""


class Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=128, ge=1, le=32_768)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = None


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    task: Task = "question_answering"
    data: str = Field(min_length=1, max_length=4096)
    models: list[str] = Field(min_length=1, max_length=8)
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"], min_length=1)
    judge: str | None = Field(default=None, min_length=1, max_length=200)
    system: str | None = Field(default=None, max_length=10_000)
    sampling: Sampling = Field(default_factory=Sampling)
    seed: int = 0
    max_items: int = Field(default=MAX_ITEMS, ge=1, le=MAX_ITEMS)

    @field_validator("metrics")
    @classmethod
    def _known(cls, metrics: list[str]) -> list[str]:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; built-in: {', '.join(METRICS)}")
        if "robustness" in metrics and "accuracy" not in metrics:
            metrics = ["accuracy", *metrics]  # robustness is accuracy's drop: it needs accuracy
        return list(dict.fromkeys(metrics))

    @field_validator("models")
    @classmethod
    def _distinct(cls, models: list[str]) -> list[str]:
        if len(set(models)) != len(models) or any(not m or len(m) > 200 for m in models):
            raise ValueError("models must be distinct names")
        return models


@dataclass(frozen=True, slots=True)
class Item:
    prompt: str
    reference: str = ""
    category: str = ""
    context: str = ""
    perturbation: str = ""  # set on perturbed copies: case | typos | whitespace

    def to_item(self) -> dict[str, str]:
        return {
            "prompt": self.prompt,
            "reference": self.reference,
            "category": self.category,
            "context": self.context or self.prompt,
            "perturbation": self.perturbation,
        }


@dataclass
class Loaded:
    spec: Spec
    items: list[Item] = field(default_factory=list)
    base: Path = Path(".")


def load_spec(path: Path) -> Loaded:
    """The spec and its data, checked whole before any request is sent."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: {exc.strerror}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: a spec is at most {MAX_SPEC_BYTES} bytes")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping")
    try:
        spec = Spec.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SpecError(f"{path}: {where + ': ' if where else ''}{first['msg']}") from None
    data = (path.parent / spec.data).resolve()
    items = read_items(data, spec.max_items)
    if spec.task != "generation" and "accuracy" in spec.metrics:
        blank = next((i for i, item in enumerate(items, 1) if not item.reference), None)
        if blank is not None:
            raise SpecError(f"{data}: item {blank} has no referenceResponse; accuracy needs one")
    return Loaded(spec, items, path.parent)


def read_items(path: Path, limit: int = MAX_ITEMS) -> list[Item]:
    """JSONL rows with Bedrock's dataset fields {prompt, referenceResponse, category} (or `reference`, `context`)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SpecError(f"{path}: {exc.strerror}") from None
    if size > MAX_DATA_BYTES:
        raise SpecError(f"{path}: {size} bytes; the data is at most {MAX_DATA_BYTES}")
    items: list[Item] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            if len(items) == limit:
                raise SpecError(f"{path}:{number}: more than {limit} items")
            items.append(_item(raw, f"{path}:{number}"))
    if not items:
        raise SpecError(f"{path}: no items")
    return items


def _item(raw: bytes, where: str) -> Item:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{where}: not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise SpecError(f"{where}: expected a JSON object")
    values = {
        "prompt": row.get("prompt"),
        "reference": row.get("referenceResponse", row.get("reference", "")),
        "category": row.get("category", ""),
        "context": row.get("context", ""),
    }
    for name, value in values.items():
        if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
            raise SpecError(f"{where}: {name} must be a string of at most {MAX_TEXT_CHARS} characters")
    if not values["prompt"]:
        raise SpecError(f"{where}: prompt is empty")
    return Item(**values)


# Robustness: the same items, each changed in one of the ways people mistype, chosen by a seeded generator per
# item, so a run and its rerun (and two models) see exactly the same perturbed prompts.
PERTURBATIONS = ("case", "typos", "whitespace")


def perturb(items: list[Item], seed: int) -> list[Item]:
    return [_perturb(item, random.Random(f"{seed}:{i}")) for i, item in enumerate(items)]


def _perturb(item: Item, rng: random.Random) -> Item:
    kind = rng.choice(PERTURBATIONS)
    text = item.prompt
    if kind == "case":
        text = text.upper() if rng.random() < 0.5 else text.lower()
    elif kind == "typos":
        text = _typos(text, rng)
    else:
        words = text.split(" ")
        text = "  " + "".join(w + (" " * rng.randint(1, 3)) for w in words).rstrip(" ") + " \n"
    return replace(item, prompt=text, perturbation=kind)


def _typos(text: str, rng: random.Random) -> str:
    """Swap two different neighbouring letters inside up to two words (a word's first letter stays)."""
    words = text.split(" ")
    spots = {i: [j for j in range(1, len(w) - 1) if w[j].isalpha() and w[j + 1].isalpha() and w[j] != w[j + 1]]
             for i, w in enumerate(words)}  # fmt: skip
    for i in rng.sample(sorted(k for k, v in spots.items() if v), min(2, sum(1 for v in spots.values() if v))):
        w, j = words[i], rng.choice(spots[i])
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def testing_criteria(spec: Spec, judge: str, metrics: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The Evals API testing criteria for the spec's metrics (or only `metrics` of them), each named after its
    metric; toxicity and robustness are computed from the samples and a second run, not graded by the API."""
    out: list[dict[str, Any]] = []
    wanted = [m for m in spec.metrics if metrics is None or m in metrics]
    if "accuracy" in wanted:
        io = {"input": "{{sample.output_text}}", "reference": "{{item.reference}}"}
        out.append({"name": "accuracy", **ACCURACY[spec.task], **io})
    for metric in JUDGE_METRICS:
        if metric in wanted:
            system, user = JUDGE_PROMPTS[metric]
            out.append(
                {
                    "type": "score_model",
                    "name": metric,
                    "model": judge,
                    "input": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                    "range": list(JUDGE_RANGE),
                    "pass_threshold": 3.0,
                    "sampling_params": {"temperature": 0, "max_completions_tokens": 16},
                }
            )
    return out


def item_schema() -> dict[str, Any]:
    props = {k: {"type": "string"} for k in ("prompt", "reference", "category", "context", "perturbation")}
    return {"type": "object", "properties": props, "required": ["prompt"]}


def input_messages(spec: Spec) -> list[dict[str, str]]:
    system = [{"role": "system", "content": spec.system}] if spec.system else []
    return [*system, {"role": "user", "content": "{{item.prompt}}"}]


def normalise(metric: str, score: float) -> float:
    """A grader's score on the report's scale, [0, 1]: the judge's 1-5 maps linearly onto it."""
    if metric in JUDGE_METRICS:
        low, high = JUDGE_RANGE
        return max(0.0, min(1.0, (score - low) / (high - low)))
    return max(0.0, min(1.0, score))
