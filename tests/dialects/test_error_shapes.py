"""An error comes back in the shape of the SDK that owns the path: OpenAI's for the OpenAI API's paths (served or
not), Anthropic's for Anthropic's, one both SDKs read for the paths both APIs have."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment
from basalt.dialects.registry import dialect_for

from ..fakes.upstream import fake_upstream


@pytest.fixture(scope="module")
def basalt() -> Iterator[InProcess]:
    with fake_upstream() as (url, _):
        deployments = [Deployment(name="gpt", provider="openai", model="gpt-up", base_url=url)]
        with InProcess(Settings(serve_local=False, deployments=deployments)) as running:
            yield running


@pytest.mark.parametrize(
    "path", ["/v1/embeddings", "/v1/moderations", "/v1/responses", "/v1/images/generations", "/v1/audio/speech"]
)
def test_unserved_openai_paths_answer_404_in_openai_shape(basalt: InProcess, path: str) -> None:
    response = basalt.http_client().post(path, json={"model": "gpt", "input": "x"})
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and path in error["message"]


def test_the_openai_sdk_reads_an_unserved_path_as_not_found(basalt: InProcess) -> None:
    with pytest.raises(openai.NotFoundError, match="/v1/embeddings"):
        basalt.openai(max_retries=0).embeddings.create(model="gpt", input="x")


@pytest.mark.parametrize("path", ["/v1/messages/batches/x", "/v1/complete", "/v1/skills", "/v2/anything"])
def test_anthropic_paths_keep_anthropic_shape(basalt: InProcess, path: str) -> None:
    body = basalt.http_client().get(path).json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"


def test_the_dialect_of_a_path_goes_by_its_first_segment() -> None:
    paths = ("/v1/completions", "/v1/complete", "/v1/files/f", "/v1/models/m", "/v1/chat/x", "/v1")
    assert [dialect_for(p).name for p in paths] == ["openai", "anthropic", "openai", "shared", "openai", "anthropic"]


def test_an_empty_model_cursor_is_no_cursor(basalt: InProcess) -> None:
    http = basalt.http_client()
    for query in ("after_id=", "before_id=", "after_id=&before_id="):
        response = http.get(f"/v1/models?{query}")
        assert response.status_code == 200, response.text
        assert [m["id"] for m in response.json()["data"]] == ["gpt"]
