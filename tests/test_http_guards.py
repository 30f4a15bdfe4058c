"""A local Basalt with auth off is safe from other web pages: Host allow-list (DNS rebinding), JSON-only bodies (no
preflight-free text/plain or form POSTs), foreign origins refused on state-changing routes, CORS only when configured.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest

from basalt import InProcess
from basalt.config import ControlSettings, Settings
from basalt.http.guards import BrowserGuard, default_hosts

from .fakes.upstream import fake_upstream

ASK = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
JSON = {"content-type": "application/json"}


def settings(tmp_path: Path, upstream: str, **extra: Any) -> Settings:
    deployments = [{"name": "m", "provider": "openai", "model": "up", "base_url": upstream}]
    return Settings(
        home=tmp_path, serve_local=False, deployments=deployments, control=ControlSettings(auth=False), **extra
    )


@pytest.fixture
def http(tmp_path: Path) -> Iterator[httpx.Client]:
    with fake_upstream() as (url, _), InProcess(settings(tmp_path, url)) as basalt, basalt.http_client() as client:
        yield client


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.nip.io", "localhostx"])
def test_other_host_names_are_refused_in_the_callers_dialect(http: httpx.Client, host: str) -> None:
    """Before, any Host was served: a page rebinding its name to 127.0.0.1 could read answers and usage."""
    anthropic_shape = http.post("/v1/messages", json=ASK, headers={"host": host})
    assert anthropic_shape.status_code == 421
    assert anthropic_shape.json()["error"]["type"] == "invalid_request_error"
    assert "allowed_hosts" in anthropic_shape.json()["error"]["message"]
    assert anthropic_shape.headers["request-id"].startswith("req_")
    openai_shape = http.post("/v1/chat/completions", json=ASK, headers={"host": host})
    assert openai_shape.status_code == 421 and openai_shape.json()["error"]["param"] is None
    assert http.get("/v1/usage", headers={"host": host}).status_code == 421
    assert http.get("/health", headers={"host": host}).status_code == 421


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:1", "[::1]:8000", "LOCALHOST.", "[::1]"])
def test_loopback_names_with_any_port_are_served(http: httpx.Client, host: str) -> None:
    assert http.post("/v1/messages", json=ASK, headers={"host": host}).status_code == 200


def test_the_default_follows_the_bind_address_and_star_turns_it_off(tmp_path: Path) -> None:
    assert (
        default_hosts("127.0.0.1") == default_hosts("::1") == default_hosts("localhost") == default_hosts("127.0.0.5")
    )
    assert default_hosts("0.0.0.0") == default_hosts("10.0.0.7") == default_hosts("basalt.internal") == ["*"]
    with fake_upstream() as (url, _):
        for extra in ({"allowed_hosts": ["*"]}, {"host": "0.0.0.0"}, {"allowed_hosts": ["basalt.example"]}):
            with InProcess(settings(tmp_path, url, **extra)) as basalt, basalt.http_client() as client:
                served = client.post("/v1/messages", json=ASK, headers={"host": "basalt.example:443"})
                assert served.status_code == 200, (extra, served.text)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"],
)
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions", "/admin/keys", "/v1/messages/count_tokens"])
def test_bodies_that_are_not_json_are_refused_with_415(http: httpx.Client, content_type: str | None, path: str) -> None:
    """Before, a text/plain POST (no CORS preflight) from any page could spend credit or create admin keys."""
    headers = {"content-type": content_type} if content_type else {}
    response = http.post(path, content=b'{"name": "k", "admin": true}', headers=headers)
    assert response.status_code == 415, response.text
    assert "Content-Type: application/json" in response.json()["error"]["message"]
    assert http.get("/admin/keys").json()["data"] == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_bodies_are_served(http: httpx.Client, content_type: str) -> None:
    assert (
        http.post("/v1/messages", content=orjson.dumps(ASK), headers={"content-type": content_type}).status_code == 200
    )
    vendor = http.post("/admin/projects", json={"name": "p"}, headers={"content-type": "application/vnd.x+json"})
    assert vendor.status_code == 201, vendor.text


def test_the_official_sdks_send_json(tmp_path: Path) -> None:
    with fake_upstream() as (url, _), InProcess(settings(tmp_path, url)) as basalt:
        assert basalt.anthropic().messages.create(**ASK).content[0].type == "text"  # type: ignore[arg-type, union-attr]
        reply = basalt.openai().chat.completions.create(model="m", messages=ASK["messages"])  # type: ignore[arg-type]
        assert reply.choices[0].message.content is not None


def test_requests_from_other_web_pages_are_refused_on_state_changing_routes(http: httpx.Client) -> None:
    page = {"origin": "http://attacker.example"}
    created = http.post("/admin/keys", json={"name": "k", "admin": True}, headers=page)
    assert created.status_code == 403 and "cors_origins" in created.json()["error"]["message"]
    assert http.post("/v1/messages", json=ASK, headers={"origin": "null"}).status_code == 403
    assert http.delete("/admin/keys/x", headers=page).status_code == 403
    assert http.get("/admin/keys").json()["data"] == []
    read = http.get("/v1/models", headers=page)  # a read: the browser keeps it from the page (no CORS header)
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
    preflight = http.options("/v1/messages", headers={**page, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers and preflight.status_code != 204


def test_cors_for_configured_origins(tmp_path: Path) -> None:
    site = "http://localhost:3000"
    with (
        fake_upstream() as (url, _),
        InProcess(settings(tmp_path, url, cors_origins=[site])) as basalt,
        basalt.http_client() as http,
    ):
        asked = {"origin": site, "access-control-request-method": "POST"}
        preflight = http.options(
            "/v1/messages", headers={**asked, "access-control-request-headers": "x-api-key, content-type"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == site
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "x-api-key, content-type"
        answered = http.post("/v1/messages", json=ASK, headers={"origin": site})
        assert answered.status_code == 200 and answered.headers["access-control-allow-origin"] == site
        assert answered.headers["request-id"].startswith("req_")
        other = http.post("/v1/messages", json=ASK, headers={"origin": "http://localhost:3001"})
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers


def test_the_screen_is_cheap() -> None:
    """A header scan per request: well under the few microseconds the generation routes may spend."""
    guard = BrowserGuard(default_hosts("127.0.0.1"), [])
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"Anthropic/Python 0.70.0"),
               (b"accept", b"application/json"), (b"content-type", b"application/json"), (b"content-length", b"120"),
               (b"x-api-key", b"bsk_x"), (b"anthropic-version", b"2023-06-01"), (b"x-stainless-lang", b"python"),
               (b"x-stainless-retry-count", b"0"), (b"connection", b"keep-alive")]  # fmt: skip
    scope = {"type": "http", "method": "POST", "path": "/v1/messages", "headers": headers}
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10_000):
            assert guard.screen(scope) is None
        best = min(best, (time.perf_counter() - start) / 10_000)
    assert best < 5e-6, best
