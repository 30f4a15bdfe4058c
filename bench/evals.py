"""Eval runs against the batch engine: the same N items on the local model, as one Message Batch and as one eval
run (its samples are a batch of the same engine, plus the run's bookkeeping and grading), in interleaved rounds.

    .venv/bin/python -m bench.evals --items 1000 --rounds 3      # prints a JSON summary

Both go through the public APIs of an in-process Basalt (basalt.InProcess) with the official SDKs: the batch through
`client.messages.batches`, the run through `client.evals.runs` with a string_check criterion; each is timed from
submit to its last result readable (the batch ended; the run completed and its output items listed).
Every submission has its own prompts (a shared instruction, then its own numbers), so none is served from
another's prefix cache, and the two kinds alternate which goes first in each round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from basalt import InProcess
from basalt.config import Settings

PROMPT = "Name one colour. Item {n}."
TEMPLATE = PROMPT.replace("{n}", "{{item.n}}")  # the same prompt, rendered by the run


def batch_seconds(basalt: InProcess, n: int, max_tokens: int, base: int) -> float:
    client = basalt.anthropic()
    requests = [{"custom_id": f"i{i}", "params": {"model": "smollm2", "max_tokens": max_tokens, "temperature": 0,
                 "messages": [{"role": "user", "content": PROMPT.format(n=base + i)}]}} for i in range(n)]  # fmt: skip
    start = time.monotonic()
    made = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    while client.messages.batches.retrieve(made.id).processing_status != "ended":
        time.sleep(0.1)
    assert sum(1 for r in client.messages.batches.results(made.id) if r.result.type == "succeeded") == n
    return time.monotonic() - start


def run_seconds(basalt: InProcess, eval_id: str, n: int, max_tokens: int, base: int) -> float:
    client = basalt.openai()
    source = {"type": "file_content", "content": [{"item": {"n": base + i}} for i in range(n)]}
    start = time.monotonic()
    run = client.evals.runs.create(eval_id, data_source={
        "type": "completions", "model": "smollm2", "source": source,
        "input_messages": {"type": "template", "template": [{"role": "user", "content": TEMPLATE}]},
        "sampling_params": {"temperature": 0, "max_completion_tokens": max_tokens},
    })  # fmt: skip
    while (found := client.evals.runs.retrieve(run.id, eval_id=eval_id)).status not in ("completed", "failed"):
        time.sleep(0.1)
    assert found.status == "completed" and found.result_counts.errored == 0, found
    assert len(list(client.evals.runs.output_items.list(run.id, eval_id=eval_id, limit=100))) == n
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.model_validate(
        {"batches": {"poll_seconds": 0.1}, "evals": {"poll_seconds": 0.1, "max_items": max(args.items, 1)}}
    )
    with InProcess(settings) as basalt:
        made = basalt.openai().evals.create(
            name="bench",
            data_source_config={"type": "custom", "item_schema": {"type": "object"}},
            testing_criteria=[
                {
                    "type": "string_check",
                    "name": "said",
                    "input": "{{sample.output_text}}",
                    "reference": "colour",
                    "operation": "ilike",
                }
            ],
        )
        rows: list[dict[str, float]] = []
        for r in range(args.rounds):  # every submission its own prompts: none finds another's in the prefix cache
            timed: dict[str, float] = {}
            for k, kind in enumerate(("batch", "eval") if r % 2 == 0 else ("eval", "batch")):  # alternating order
                base = (2 * r + k) * args.items
                timed[kind] = (
                    batch_seconds(basalt, args.items, args.max_tokens, base)
                    if kind == "batch"
                    else run_seconds(basalt, made.id, args.items, args.max_tokens, base)
                )
            rows.append(timed)
            print(json.dumps(rows[-1]), flush=True)  # each round as it ends
    batch = statistics.median(r["batch"] for r in rows)
    run = statistics.median(r["eval"] for r in rows)
    print(json.dumps({"items": args.items, "max_tokens": args.max_tokens, "rounds": rows,
                      "median_batch_s": batch, "median_eval_s": run, "ratio": run / batch}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
