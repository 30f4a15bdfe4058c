"""Admin and guardrail routes read bounded bodies, and the guardrail definitions they write are checked first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from basalt import InProcess
from basalt.config import ControlSettings, Settings


@pytest.fixture
def http(tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(home=tmp_path, serve_local=False, control=ControlSettings(auth=False))
    with InProcess(settings) as basalt, basalt.http_client() as client:
        yield client


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/admin/projects", 1 << 20),
        ("/admin/keys", 1 << 20),
        ("/admin/guardrails", 1 << 20),
        ("/v1/guardrails/g/versions/1/apply", 8 << 20),
    ],
)
def test_bodies_beyond_the_limit_are_413(http: httpx.Client, path: str, limit: int) -> None:
    """Before, these routes read a body of any size into memory."""
    big = b'{"name": "' + b"x" * limit + b'"}'
    response = http.post(path, content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "request_too_large"


def test_a_guardrail_version_that_cannot_be_stored_is_a_400(http: httpx.Client) -> None:
    response = http.post("/admin/guardrails", json={"name": "g", "version": "1" * 41, "words": {"words": ["a"]}})
    assert response.status_code == 400 and "version" in response.json()["error"]["message"]
    assert http.get("/admin/guardrails").json()["data"] == []
