"""An eval run survives a SIGKILL of the server: its samples are batch items (leased, rerun once their lease
passes, one ledger row each), its state is in the database, and the restarted server's driver grades it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import openai

from ..batches.conftest import link_models
from ..batches.test_durability import exactly_once, stored
from ..control.servers import Server
from .conftest import FAST, all_output_items, wait_run

N = 60


def sampled(db: Path, run_id: str) -> int:
    with sqlite3.connect(db) as conn:
        found = conn.execute(
            "select b.succeeded from eval_runs r join batches b on b.id = r.sample_batch where r.id = ?", (run_id,)
        ).fetchone()
    return int(found[0]) if found else 0


def test_a_run_survives_sigkill_and_completes_after_restart(tmp_path: Path, basalt_home: Path) -> None:
    home = link_models(basalt_home, tmp_path / "home")
    database = f"sqlite+aiosqlite:///{home / 'basalt.db'}"
    settings = {"engine": {"context_window": 512, "max_seqs": 8}, "control": {"database": database},
                "batches": {**FAST, "lease_seconds": 2}, "evals": {"poll_seconds": 0.1}}  # fmt: skip
    server = Server(home, settings).start()
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
        made = client.evals.create(
            name="durable",
            data_source_config={"type": "custom", "item_schema": {"type": "object"}},
            testing_criteria=[
                {
                    "type": "string_check",
                    "name": "said",
                    "input": "{{sample.output_text}}",
                    "reference": "{{item.n}}",
                    "operation": "like",
                }
            ],
        )
        content = [{"item": {"n": str(n)}} for n in range(N)]
        template = [{"role": "user", "content": "Write the number {{item.n}}."}]
        run = client.evals.runs.create(made.id, data_source={
            "type": "completions", "model": "smollm2", "source": {"type": "file_content", "content": content},
            "input_messages": {"type": "template", "template": template},
            "sampling_params": {"temperature": 0, "max_completion_tokens": 3},
        })  # fmt: skip
        deadline = time.monotonic() + 120
        while sampled(home / "basalt.db", run.id) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.kill()  # SIGKILL with samples leased and in the engine
        assert sampled(home / "basalt.db", run.id) < N, "the run ended before the kill: nothing was tested"
        server.start()
        done = wait_run(client, made.id, run.id, 240)
        assert done.status == "completed" and done.result_counts.total == N and done.result_counts.errored == 0
        items = all_output_items(client, made.id, run.id)
        assert [i.datasource_item_id for i in items] == list(range(N))
        assert all(i.sample.output[0].content and len(i.results) == 1 for i in items)
    finally:
        server.stop()
    with sqlite3.connect(home / "basalt.db") as conn:
        (batch_id,) = conn.execute("select sample_batch from eval_runs where id = ?", (run.id,)).fetchone()
    batch, rows = stored(database, batch_id)
    exactly_once(batch, rows, N)  # every sample ran to one result and one ledger row
    assert any(i["attempts"] > 1 for i in batch), "the kill left no sample to run again"
