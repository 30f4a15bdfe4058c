"""Fuzzing every route from the OpenAPI document (schemathesis over a real `basalt serve` on the real model).

Each operation gets valid and invalid requests generated from its declared body and parameters; every answer must
be no 5xx, within a minute, with a status, content type and body the document declares. Afterwards the server
must still answer and its ledger still flush. Bounded: a few dozen examples an operation, a few minutes in all.
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from basalt.app import create_app
from basalt.config import Settings

from .control.servers import Server

EXAMPLES = int(os.environ.get("BASALT_FUZZ_EXAMPLES", "100"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
GENERATION = ("/v1/messages", "/v1/chat/completions", "/v1/completions", "/v1/messages/count_tokens")


@pytest.fixture(scope="module")
def fuzzed_server(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("fuzz-home")
    models = home / "models"
    shutil.copytree(basalt_home / "models", models, copy_function=os.link)
    config = {"engine": {"context_window": 512, "max_seqs": 4}, "aliases": {"claude-3-5-haiku-latest": "smollm2"}}
    server = Server(home, config).start()
    try:
        yield server
    finally:
        server.stop()


def _document() -> dict[str, Any]:
    """The document the server serves, built here at collection time (the same code; the server is checked to
    serve exactly it)."""
    return create_app(Settings(serve_local=False)).openapi()


schema = schemathesis.openapi.from_dict(_document())
# The coverage phase sends every boundary of every field (hundreds of cases for a generation route, half of them
# answered by the model): minutes per route on two cores. The bounds themselves are tested field by field in
# tests/dialects/test_bounds.py; here the examples and the fuzzing phases run.
schema.config.phases.coverage.enabled = False


def _toward_the_model(case: Any) -> None:
    """Generated model names are random strings (a 404 at once); half the generation calls go to the local model
    instead, with a short answer, so the fuzzer reaches decoding, grammars and templates too."""
    body = case.body
    if case.path.startswith("/model/") and isinstance(case.path_parameters, dict):  # Bedrock: the model in the path
        model = str(case.path_parameters.get("model", ""))
        if zlib.crc32(model.encode()) % 2 == 0:
            case.path_parameters["model"] = "smollm2"
        config = body.get("inferenceConfig") if isinstance(body, dict) else None
        if isinstance(body, dict) and ("messages" in body or "inferenceConfig" in body):
            if not isinstance(config, dict):
                config = body["inferenceConfig"] = {}
            if not isinstance(config.get("maxTokens"), int) or config["maxTokens"] > 16:
                config["maxTokens"] = 16
        if isinstance(body, dict) and isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 16:
            body["max_tokens"] = 16
    if case.path in GENERATION and isinstance(body, dict) and isinstance(body.get("model"), str):
        if zlib.crc32(body["model"].encode()) % 2 == 0:  # deterministic, unlike hash()
            body["model"] = "smollm2"
        limits = [name for name in ("max_tokens", "max_completion_tokens") if body.get(name) is not None]
        for name in limits:
            if isinstance(body[name], int) and body[name] > 16:
                body[name] = 16
        if case.path == "/v1/chat/completions" and not limits:  # no limit: the answer could fill the context
            body["max_completion_tokens"] = 16


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each try is a real call (seconds, when busy)
)
def test_route(case: Any, fuzzed_server: Server) -> None:
    _toward_the_model(case)
    # The timeout is the hang check: a call that takes longer fails the test (on this 2-core machine a 16-token
    # answer takes well under a second alone, seconds when the machine is busy).
    case.call_and_validate(base_url=fuzzed_server.url, checks=CHECKS, timeout=60)


def test_every_operation_declares_its_answers() -> None:
    """A new route must say in basalt/openapi.py what it takes and answers: FastAPI alone only knows a 200 (and a
    422 it never sends)."""
    for path, methods in _document()["paths"].items():
        for method, operation in methods.items():
            statuses = set(operation["responses"])
            assert "422" not in statuses and statuses - {"200"}, f"{method.upper()} {path} is not declared"


def test_the_server_serves_the_fuzzed_document(fuzzed_server: Server) -> None:
    assert httpx.get(fuzzed_server.url + "/openapi.json").json() == _document()


def test_still_serving_and_ledger_flushes(fuzzed_server: Server) -> None:
    """Runs after the fuzzing (same module, declared later): a normal call answers and reaches the ledger."""
    url = fuzzed_server.url
    body = {"model": "smollm2", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(url + "/v1/messages", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    rid = answer.headers["request-id"]
    records = httpx.get(url + "/admin/usage", params={"records": "1", "limit": "10000"}, timeout=30)
    assert records.status_code == 200, records.text
    assert rid in [row["request_id"] for row in records.json()["data"]]
