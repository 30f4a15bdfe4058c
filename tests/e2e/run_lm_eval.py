"""Runs lm-evaluation-harness (its `simple_evaluate`, the evaluator the `lm_eval` command runs) on tasks from one
folder only, and prints the results and the per-request answers as JSON. Only that folder's tasks are indexed: the
command line also indexes the thousands of tasks lm-eval ships, which took most of the run (24 s of 2 loaded cores).

    python run_lm_eval.py TASK_FOLDER TASKS MODEL_ARGS
"""

from __future__ import annotations

import json
import sys

from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager


def main() -> None:
    folder, tasks, model_args = sys.argv[1:4]
    manager = TaskManager(include_path=folder, include_defaults=False)
    out = simple_evaluate(
        model="local-completions", model_args=model_args, tasks=tasks.split(","), task_manager=manager, log_samples=True
    )
    assert out is not None
    samples = {
        task: [{"arguments": [list(a) for a in s["arguments"]], "resps": s["resps"]} for s in rows]
        for task, rows in out["samples"].items()
    }
    print(json.dumps({"results": out["results"], "samples": samples}, default=str))


if __name__ == "__main__":
    main()
