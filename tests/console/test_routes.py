"""The console's server side, without a browser: the page and its assets under a strict CSP, and the routes it adds
(whoami, deployments, guardrail check), each checked for scope on the server; the same-origin rule of the edge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from basalt import InProcess, Settings
from basalt.config import ControlSettings, Deployment, RouterSettings

ORIGIN = "http://basalt.in-process"  # the in-process client's own origin (its Host)


@pytest.fixture(scope="module")
def basalt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    home = tmp_path_factory.mktemp("console-routes")
    # A deployment nothing listens on: its failures are what the deployments page reports.
    dead = Deployment(name="dead", provider="openai", model="m", base_url="http://127.0.0.1:9/v1", timeout=5)
    settings = Settings(
        home=home, serve_local=False, deployments=[dead], router=RouterSettings(retries=0),
        control=ControlSettings(auth=True),
    )  # fmt: skip
    with InProcess(settings) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(basalt: InProcess) -> httpx.Client:
    return basalt.http_client()


@pytest.fixture(scope="module")
def admin(basalt: InProcess) -> dict[str, str]:
    return {"x-api-key": (basalt.settings.home / "admin-key").read_text().strip()}


@pytest.fixture(scope="module")
def tenant(client: httpx.Client, admin: dict[str, str]) -> dict[str, Any]:
    project = client.post("/admin/projects", json={"name": "tenant", "daily_budget_usd": 5}, headers=admin).json()
    key = client.post("/admin/keys", json={"name": "t", "project": "tenant", "endpoints": ["messages"]}, headers=admin)
    assert key.status_code == 201, key.text
    return {"project": project, "headers": {"x-api-key": key.json()["key"]}, "id": key.json()["id"]}


def test_the_page_and_its_assets_are_served_from_the_package_under_a_strict_csp(client: httpx.Client) -> None:
    page = client.get("/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text and 'src="/console/assets/app.mjs"' in page.text  # no inline script
    script = client.get("/console/assets/app.mjs")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    for vendored in ("vendor/preact.mjs", "vendor/hooks.mjs", "vendor/htm.mjs", "vendor/LICENSE-preact"):
        assert client.get(f"/console/assets/{vendored}").status_code == 200
    assert 'from"./preact.mjs"' in client.get("/console/assets/vendor/hooks.mjs").text
    for wrong in ("nothing.js", "../__init__.py", "..%2F__init__.py", "vendor/../../api.py", "%00"):
        assert client.get(f"/console/assets/{wrong}").status_code == 404, wrong
    assert client.get("/console/", follow_redirects=False).headers["location"] == "/console"


def test_whoami_says_who_a_key_is_and_nothing_without_one(
    client: httpx.Client, admin: dict[str, str], tenant: dict[str, Any]
) -> None:
    assert client.get("/v1/whoami").status_code == 401
    assert client.get("/v1/whoami", headers={"x-api-key": "bsk_nope_nope"}).status_code == 401
    me = client.get("/v1/whoami", headers=admin).json()
    assert me["auth"] is True and me["admin"] is True and me["project"] is None and "key" not in me["key"]
    # A key scoped to messages only may still ask who it is; it sees its own project.
    own = client.get("/v1/whoami", headers=tenant["headers"]).json()
    assert own["admin"] is False and own["key"]["id"] == tenant["id"]
    assert own["project"]["id"] == tenant["project"]["id"] and own["project"]["limits"]["daily_budget_usd"] == 5
    assert "secret_hash" not in own["key"] and "key" not in own["key"]


def test_admin_routes_need_the_admin_scope_on_the_server(
    client: httpx.Client, admin: dict[str, str], tenant: dict[str, Any]
) -> None:
    check = {"yaml": "name: x\n"}
    for method, path, body in (("GET", "/admin/deployments", None), ("POST", "/admin/guardrails/check", check)):
        assert client.request(method, path, json=body).status_code == 401
        refused = client.request(method, path, json=body, headers=tenant["headers"])
        assert refused.status_code == 403 and "admin" in refused.text
        assert client.request(method, path, json=body, headers=admin).status_code == 200


def test_deployments_show_health_cooldown_and_recent_errors(client: httpx.Client, admin: dict[str, str]) -> None:
    before = client.get("/admin/deployments", headers=admin).json()["data"]
    (dead,) = [m for m in before if m["model"] == "dead"]
    assert dead["kind"] == "upstream" and dead["deployments"][0]["health"] == "ok"
    body = {"model": "dead", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    assert client.post("/v1/messages", json=body, headers=admin).status_code >= 500
    (after,) = client.get("/admin/deployments", headers=admin).json()["data"][0]["deployments"]
    assert after["health"] == "cooling" and 0 < after["cooldown_seconds"] <= 30 and after["failures"] == 1
    (error,) = after["recent_errors"]
    assert error["type"] and error["message"] and after["in_flight"] == 0
    assert after["deployment"] == "openai:m@http://127.0.0.1:9/v1"


def test_a_guardrail_check_locates_every_error_and_defines_nothing(client: httpx.Client, admin: dict[str, str]) -> None:
    def check(body: dict[str, Any]) -> dict[str, Any]:
        answer = client.post("/admin/guardrails/check", json=body, headers=admin)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    bad = check({"yaml": "name: bad name\nsensitive_information:\n  entities:\n    - type: SHOE_SIZE\n"})
    assert bad["valid"] is False
    locations = {".".join(e["loc"]) for e in bad["errors"]}
    assert {"name", "sensitive_information.entities.0.type"} <= locations
    broken = check({"yaml": "name: [unclosed\n"})
    assert broken["valid"] is False and broken["errors"][0]["loc"][0].startswith("line ")
    assert check({"yaml": "- a list\n"})["valid"] is False
    pii = {"name": "pii", "version": 1, "sensitive_information": {"entities": [{"type": "email"}]}}
    good = check({"definition": pii})
    assert good["valid"] is True and good["definition"]["sensitive_information"]["entities"][0]["type"] == "EMAIL"
    assert client.get("/admin/guardrails", headers=admin).json()["data"] == []  # checked, not defined
    for wrong in ({"yaml": 5}, {"yaml": "a: 1", "definition": {}}, {}):
        assert client.post("/admin/guardrails/check", json=wrong, headers=admin).status_code == 400
    # A YAML alias bomb: nine levels of nine references each (387 million strings if expanded) is answered at once.
    levels = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = "\n".join([*levels, "name: bomb", "words: {words: *a9}", "topics: *a9", ""])
    started = time.monotonic()
    exploded = check({"yaml": bomb})
    assert exploded["valid"] is False and len(exploded["errors"]) <= 50 and time.monotonic() - started < 5
    deep = check({"yaml": "[" * 100_000 + "]" * 100_000})
    assert deep["valid"] is False and "nested too deeply" in deep["errors"][0]["msg"]
    huge = {"yaml": "x" * (300 << 10)}
    assert client.post("/admin/guardrails/check", json=huge, headers=admin).status_code == 413


def test_the_pages_own_origin_may_post_and_others_may_not(client: httpx.Client, admin: dict[str, str]) -> None:
    body = {"name": "from-the-console"}
    same = client.post("/admin/projects", json=body, headers={**admin, "origin": ORIGIN})
    assert same.status_code == 201, same.text
    for other in ("http://evil.example", "null", "http://basalt.in-process.evil.example", "ftp://basalt.in-process"):
        refused = client.post("/admin/projects", json={"name": "x"}, headers={**admin, "origin": other})
        assert refused.status_code == 403, other


def test_with_auth_off_the_console_is_the_single_local_user(tmp_path: Path) -> None:
    with InProcess(Settings(home=tmp_path, serve_local=False)) as local:
        me = local.http_client().get("/v1/whoami").json()
    assert {k: me[k] for k in ("auth", "admin", "key", "project")} == {
        "auth": False,
        "admin": True,
        "key": None,
        "project": None,
    }
    assert "messages" in me["endpoints"] and "batches" in me["endpoints"] and "admin" not in me["endpoints"]
