"""The translation conformance suite: one JSON fixture per case in tests/fixtures/conformance/. Each pairs a client
request in one dialect with exactly what the upstream of one provider kind must receive, and a scripted upstream
answer with exactly what the client must get back (generated ids and timestamps masked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment, RouterSettings

from ..fakes.bedrock import ACCESS_KEY, REGION, SECRET_KEY
from ..fakes.upstream import serving
from .harness import Recorder, build_recorder_app, client_result

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "conformance").glob("*.json"))
PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[InProcess, Recorder]]:
    mp = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
    }.items():
        mp.setenv(key, value)
    mp.delenv("AWS_SESSION_TOKEN", raising=False)
    recorder = Recorder()
    with serving(build_recorder_app(recorder)) as url:
        deployments = [
            Deployment(name="up-openai", provider="openai", model="gpt-up", base_url=url + "/v1"),
            Deployment(name="up-anthropic", provider="anthropic", model="claude-up", base_url=url),
            Deployment(name="up-gemini", provider="gemini", model="gemini-up", base_url=url),
            Deployment(name="up-bedrock", provider="bedrock", model="anthropic.claude-up-v1:0", base_url=url),
        ]
        aliases = {"anthropic.claude-3-5-haiku-20241022-v1:0": "up-anthropic", "openai.gpt-oss-20b-1:0": "up-openai"}
        settings = Settings(
            serve_local=False, deployments=deployments, aliases=aliases, router=RouterSettings(retries=0)
        )
        with InProcess(settings) as running:
            yield running, recorder
    mp.undo()


def run_case(gateway: InProcess, recorder: Recorder, case: dict[str, Any]) -> dict[str, Any]:
    recorder.seen.clear()
    recorder.response = case["upstream_response"]
    client = case["client"]
    path = client.get("path") or PATHS[client["dialect"]]  # Bedrock's paths name the model and the operation
    stream = bool(client["body"].get("stream")) or path.endswith("-stream")
    with gateway.http_client() as http:
        response = http.post(path, json=client["body"], headers=client.get("headers", {}))
        result = client_result(response, stream)
    assert len(recorder.seen) <= 1
    return {"upstream_request": recorder.seen[0] if recorder.seen else None, "client_response": result}


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_conformance(gateway: tuple[InProcess, Recorder], fixture: Path) -> None:
    case = json.loads(fixture.read_text())
    got = run_case(*gateway, case)
    assert got["upstream_request"] == case["expect_upstream_request"]
    assert got["client_response"] == case["expect_client_response"]
