"""`basalt eval run | compare | report | guardrail`.

`run` is a client of a running server's OpenAI Evals API through the official `openai` SDK (like `basalt batches`
with the anthropic SDK), so an evaluation exercises exactly the public API: the items uploaded as a file, one eval
with the spec's testing criteria, one run per model (and one more on the perturbed items for robustness), the
output items read back, the answers' toxicity scored with Basalt's own content filters, then the result JSON and
the HTML report written and, with `--baseline`, the regression gate applied. `compare` and `report` work offline;
`guardrail` too, or with a definition read from a server.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import gate, report, results
from . import run_spec as spec

if TYPE_CHECKING:
    import openai

    from ..guard import Guardrail

DEFAULT_URL = "http://127.0.0.1:8000"
POLL_SECONDS = 0.5
TERMINAL = ("completed", "failed", "canceled")
# Toxicity: every content filter at MEDIUM, detect-only, over the answers (output direction).
TOXICITY_STRENGTH = "MEDIUM"
CONTENT_TYPES = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")


def client_for(args: argparse.Namespace) -> openai.OpenAI:
    import openai

    url = (args.url or os.environ.get("BASALT_URL") or DEFAULT_URL).rstrip("/")
    key = os.environ.get("OPENAI_API_KEY") or os.environ.get("BASALT_API_KEY")
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key or "none", max_retries=2)


def upload_items(client: openai.OpenAI, items: list[spec.Item], name: str) -> dict[str, Any]:
    """The items as an uploaded JSONL file (purpose `evals`): a request body stays small however large the data
    (the spec allows 64 MB), and the run's input is kept on the server with it."""
    data = "".join(json.dumps({"item": i.to_item()}, ensure_ascii=False) + "\n" for i in items).encode()
    uploaded = client.files.create(file=(f"{name}.jsonl", data), purpose="evals")
    return {"type": "file_id", "id": uploaded.id}


def _create_eval(client: openai.OpenAI, loaded: spec.Loaded, name: str, criteria: Any) -> str:
    created = client.evals.create(
        name=name,
        data_source_config={"type": "custom", "item_schema": spec.item_schema(), "include_sample_schema": True},
        testing_criteria=criteria,
        metadata={"basalt_task": loaded.spec.task},
    )
    return created.id


def start_runs(client: openai.OpenAI, loaded: spec.Loaded) -> dict[str, dict[str, str]]:
    """Creates the eval (and, for robustness, a second one that grades the perturbed items' accuracy only, so the
    judges are not asked twice) and every run; returns per model its eval and run ids."""
    s = loaded.spec
    evals = {"": _create_eval(client, loaded, s.name, spec.testing_criteria(s, s.judge or s.models[0]))}
    sets = {"": loaded.items}
    if "robustness" in s.metrics:
        criteria = spec.testing_criteria(s, "", metrics=("accuracy",))
        evals["perturbed_"] = _create_eval(client, loaded, f"{s.name} (perturbed)", criteria)
        sets["perturbed_"] = spec.perturb(loaded.items, s.seed)
    sampling: dict[str, Any] = {"temperature": s.sampling.temperature, "max_completion_tokens": s.sampling.max_tokens}
    sampling |= {k: v for k, v in (("top_p", s.sampling.top_p), ("seed", s.sampling.seed)) if v is not None}
    template = {"type": "template", "template": spec.input_messages(s)}
    sources = {prefix: upload_items(client, items, f"{prefix}items") for prefix, items in sets.items()}
    runs: dict[str, dict[str, str]] = {}
    for model in s.models:
        for prefix in sets:
            source: Any = {  # the SDK's TypedDicts, as plain JSON
                "type": "completions",
                "model": model,
                "input_messages": template,
                "sampling_params": sampling,
                "source": sources[prefix],
            }
            name = f"{model}{' perturbed' if prefix else ''}"
            run = client.evals.runs.create(evals[prefix], name=name, data_source=source)
            runs.setdefault(model, {}).update({f"{prefix}eval_id": evals[prefix], f"{prefix}run_id": run.id})
    return runs


def wait_runs(client: openai.OpenAI, runs: list[tuple[str, str, int]]) -> dict[str, str]:
    """Polls every (eval, run, model calls it makes) to an end, drawing one progress bar over all their calls,
    samples and judgments, from the `progress` Basalt adds to a run in progress; returns the runs' statuses."""
    from ..batches.cli import progress_line

    started = time.monotonic()
    status: dict[str, str] = {}
    total = sum(calls for _, _, calls in runs)
    while True:
        done = 0
        for eval_id, run_id, calls in runs:
            run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
            status[run_id] = run.status
            progress = (run.model_extra or {}).get("progress") or {}
            stages = [progress.get(k) for k in ("samples", "judgments")]
            made = sum(int(p.get("done", 0)) for p in stages if isinstance(p, dict))
            done += calls if run.status in TERMINAL else min(made, calls)
        line = progress_line(done, total, started, time.monotonic()).replace(" items", " calls")
        sys.stderr.write(line)
        sys.stderr.flush()
        if all(s in TERMINAL for s in status.values()):
            sys.stderr.write("\n")
            return status
        time.sleep(POLL_SECONDS)


def read_outputs(client: openai.OpenAI, eval_id: str, run_id: str, n: int) -> list[dict[str, Any]]:
    """The run's output items by item index: {text, scores: {criterion: raw score}, error}."""
    out: list[dict[str, Any]] = [{"text": None, "scores": {}, "error": "no output item"} for _ in range(n)]
    for item in client.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100):
        index = item.datasource_item_id
        if not 0 <= index < n:
            continue
        sample = item.sample
        text = "".join(o.content or "" for o in sample.output) if sample.output else None
        error = sample.error.message if sample.error and sample.error.message else None
        scores = {r.name: float(r.score) for r in item.results if r.score is not None}
        out[index] = {"text": text, "scores": scores, "error": error if text is None else None}
    return out


@functools.cache
def _toxicity_guardrail() -> Guardrail:
    """Built once per process: it loads the profanity model the insult and hate filters consult."""
    from ..guard import ContentFilter, Guardrail, GuardrailConfig

    filters = [
        ContentFilter(type=t, output_strength=TOXICITY_STRENGTH, output_action="NONE")  # type: ignore[arg-type]
        for t in CONTENT_TYPES
    ]
    return Guardrail(GuardrailConfig(name="toxicity", content=filters))


def toxicity_flags(texts: list[str | None]) -> list[bool | None]:
    """Whether Basalt's content filters flag each answer (None for no answer)."""
    guardrail = _toxicity_guardrail()
    return [None if t is None else bool(guardrail.assess(t, "OUTPUT").findings) for t in texts]


def collect(
    client: openai.OpenAI, loaded: spec.Loaded, runs: dict[str, dict[str, str]]
) -> dict[str, list[results.Sample]]:
    s, n = loaded.spec, len(loaded.items)
    perturbed = spec.perturb(loaded.items, s.seed) if "robustness" in s.metrics else None
    out: dict[str, list[results.Sample]] = {}
    for model, ids in runs.items():
        main = read_outputs(client, ids["eval_id"], ids["run_id"], n)
        again = None
        if "perturbed_run_id" in ids:
            again = read_outputs(client, ids["perturbed_eval_id"], ids["perturbed_run_id"], n)
        flags = toxicity_flags([o["text"] for o in main]) if "toxicity" in s.metrics else [None] * n
        samples = []
        for i, o in enumerate(main):
            scores = {k: spec.normalise(k, v) for k, v in o["scores"].items() if k in s.metrics}
            if flags[i] is not None:
                scores["toxicity"] = float(bool(flags[i]))
            sample = results.Sample(o["text"], scores, error=o["error"])
            if again is not None and perturbed is not None:
                sample.perturbed_prompt, sample.perturbed_text = perturbed[i].prompt, again[i]["text"]
                if "accuracy" in again[i]["scores"]:
                    scores["accuracy_perturbed"] = spec.normalise("accuracy", again[i]["scores"]["accuracy"])
            samples.append(sample)
        out[model] = samples
    return out


def write_outputs(result: dict[str, Any], json_path: Path, html_path: Path) -> None:
    json_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.write_text(report.render(result), encoding="utf-8")


def cmd_run(args: argparse.Namespace) -> int:
    path = Path(args.spec)
    baseline = None
    try:
        loaded = spec.load_spec(path)
        if args.baseline:
            baseline = results.load(Path(args.baseline))
    except (spec.SpecError, results.ResultError) as exc:
        print(f"basalt eval run: {exc}", file=sys.stderr)
        return 2
    client = client_for(args)
    runs = start_runs(client, loaded)
    print(next(iter(runs.values()))["eval_id"])
    n, judges = len(loaded.items), sum(m in spec.JUDGE_METRICS for m in loaded.spec.metrics)
    calls = {"": n * (1 + judges), "perturbed_": n}  # each item's sample, and a judgment per judge metric
    pairs = [(ids[f"{p}eval_id"], ids[f"{p}run_id"], c) for ids in runs.values() for p, c in calls.items()
             if f"{p}run_id" in ids]  # fmt: skip
    status = wait_runs(client, pairs)
    failed = [r for r, st in status.items() if st != "completed"]
    if failed:
        print(f"basalt eval run: runs not completed: {', '.join(f'{r} {status[r]}' for r in failed)}", file=sys.stderr)
        return 1
    samples = collect(client, loaded, runs)
    s = loaded.spec
    judge = s.judge or s.models[0]
    judged = [m for m in spec.JUDGE_METRICS if m in s.metrics]
    extra = {
        "runs": runs,
        "spec": s.model_dump(mode="json"),
        "judge": {"model": judge, "prompts": {m: spec.JUDGE_PROMPTS[m] for m in judged}} if judged else None,
    }
    result = results.summarise(s.name, s.task, loaded.items, samples, s.metrics, extra)
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    json_path, html_path = out / f"{stem}.result.json", out / f"{stem}.report.html"
    write_outputs(result, json_path, html_path)
    print(f"result {json_path}\nreport {html_path}", file=sys.stderr)
    for model in s.models:
        scores = "  ".join(f"{k} {v:.4f}" for k, v in result["scores"][model].items())
        print(f"{model}  {scores}", file=sys.stderr)
    if baseline is not None:
        passed, text = gate.gate(baseline, result, args.tolerance)
        print(text)
        return 0 if passed else 1
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        before, after = results.load(Path(args.before)), results.load(Path(args.after))
    except results.ResultError as exc:
        print(f"basalt eval compare: {exc}", file=sys.stderr)
        return 2
    if args.tolerance is None:
        print(gate.table(gate.changes(before, after), None))
        return 0
    passed, text = gate.gate(before, after, args.tolerance)
    print(text)
    return 0 if passed else 1


def cmd_report(args: argparse.Namespace) -> int:
    try:
        result = results.load(Path(args.result))
    except results.ResultError as exc:
        print(f"basalt eval report: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.result).with_suffix(".html")
    out.write_text(report.render(result), encoding="utf-8")
    print(out)
    return 0


def cmd_guardrail(args: argparse.Namespace) -> int:
    from .guardrail_cli import run

    return run(args)


def tolerance(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError("the tolerance is on the metrics' [0, 1] scale")
    return number


def guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The server's answer or an unreachable server as one line and exit status 1, no trace."""

    def call(args: argparse.Namespace) -> int:
        import openai

        try:
            with warnings.catch_warnings():
                # The SDK marks its Evals API deprecated (OpenAI's own service is shutting down); Basalt serves it.
                warnings.filterwarnings("ignore", "The Evals API is deprecated", DeprecationWarning)
                return int(func(args))
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error", body)
            message = error.get("message") if isinstance(error, dict) else None
            print(f"basalt eval: {exc.status_code} {message or exc.message}", file=sys.stderr)
        except openai.APIConnectionError as exc:
            print(f"basalt eval: cannot reach the server at {exc.request.url}: {exc}", file=sys.stderr)
        return 1

    return call


def register(sub: Any) -> None:
    """Adds `basalt eval ...` to the `basalt` parser."""
    parser = sub.add_parser("eval", help="evaluations: run a spec, compare results, gate CI, score a guardrail")
    actions = parser.add_subparsers(dest="action", required=True)

    p = actions.add_parser("run", help="run SPEC.yaml on a running server; writes the result JSON and HTML report")
    p.add_argument("spec")
    p.add_argument("--url", default=None, help=f"the server's base URL (default $BASALT_URL or {DEFAULT_URL})")
    p.add_argument("--out", default=None, help="where to write SPEC.result.json and SPEC.report.html")
    p.add_argument("--baseline", default=None, help="a result JSON to gate against (exit 1 on a regression)")
    p.add_argument("--tolerance", type=tolerance, default=0.0, help="allowed drop per metric, 0-1 (default 0)")
    p.set_defaults(func=guarded(cmd_run))

    p = actions.add_parser("compare", help="compare two result JSONs; with --tolerance, exit 1 on a regression")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--tolerance", type=tolerance, default=None)
    p.set_defaults(func=cmd_compare)

    p = actions.add_parser("report", help="write the HTML report of a result JSON")
    p.add_argument("result")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_report)

    from .guardrail_cli import add_arguments

    p = actions.add_parser("guardrail", help="score a guardrail definition on a labelled JSONL set")
    add_arguments(p)
    p.set_defaults(func=cmd_guardrail)
