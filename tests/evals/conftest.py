"""A real `basalt serve` for the Evals API tests: auth on, the bundled model and a fake OpenAI-compatible upstream
("m"), so runs can sample two models; helpers to make project keys, upload JSONL and wait for a run."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest

from ..batches.conftest import link_models
from ..control.servers import Server
from ..fakes.upstream import Script, fake_upstream

FAST = {"concurrency": 8, "poll_seconds": 0.1, "sweep_seconds": 1, "lease_seconds": 3}


def eval_config(upstream: str, **more: Any) -> dict[str, Any]:
    return {
        "engine": {"context_window": 1024, "max_seqs": 8},
        "deployments": [{"name": "m", "provider": "openai", "model": "up", "base_url": upstream}],
        "batches": FAST,
        "evals": {"poll_seconds": 0.1, "max_items": 200},
        "control": {"auth": True},
        **more,
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Script]]:
    with fake_upstream() as found:
        yield found


@pytest.fixture(scope="module")
def eval_server(
    basalt_home: Path, tmp_path_factory: pytest.TempPathFactory, upstream: tuple[str, Script]
) -> Iterator[Server]:
    """`basalt serve` with auth on over the bundled model (smollm2) and the fake upstream (model "m")."""
    home = link_models(basalt_home, tmp_path_factory.mktemp("evals-home"))
    server = Server(home, eval_config(upstream[0])).start()
    try:
        yield server
    finally:
        server.stop()


def project_key(server: Server, project: str) -> str:
    admin = {"x-api-key": (server.home / "admin-key").read_text().strip()}
    assert httpx.post(server.url + "/admin/projects", json={"name": project}, headers=admin).status_code == 201
    made = httpx.post(server.url + "/admin/keys", json={"name": "k", "project": project}, headers=admin)
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


@pytest.fixture(scope="module")
def eval_keys(eval_server: Server) -> tuple[str, str]:
    """Keys of two projects, alpha and beta."""
    return project_key(eval_server, "alpha"), project_key(eval_server, "beta")


@pytest.fixture
def eval_client(eval_server: Server, eval_keys: tuple[str, str]) -> openai.OpenAI:
    """The unmodified openai SDK with project alpha's key."""
    return openai.OpenAI(base_url=eval_server.url + "/v1", api_key=eval_keys[0], max_retries=0)


def upload_jsonl(client: openai.OpenAI, lines: list[Any]) -> str:
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    return client.files.create(file=("items.jsonl", io.BytesIO(data)), purpose="evals").id


def wait_run(client: openai.OpenAI, eval_id: str, run_id: str, seconds: float = 300) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in ("completed", "canceled", "failed"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.25)


def all_output_items(client: openai.OpenAI, eval_id: str, run_id: str) -> list[Any]:
    return list(client.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100))
