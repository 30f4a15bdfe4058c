"""Every number and string an admin payload, path or usage filter carries is bounded to what the columns hold: out
of range is a 400 naming the field on SQLite and PostgreSQL alike, never a 500; and the CLI says the same."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from basalt import InProcess
from basalt.cli import main
from basalt.control import admin
from basalt.control.store import Store

from ..fakes.upstream import fake_upstream
from .conftest import psql
from .test_gateway_control import Gateway, gateway_settings

TOO_BIG = [2**31, 2**63, 2**64]
FIELDS: list[tuple[str, Any]] = [
    *((field, value) for field in ("rpm", "input_tpm", "output_tpm", "max_concurrency") for value in TOO_BIG),
    ("daily_budget_usd", 1e300),
    ("monthly_budget_usd", 2**80),
    ("guardrail", "g\x00:1"),
    ("guardrail", "g" * 201),
]


@pytest.fixture
def gateway(tmp_path: Path, database_url: str) -> Iterator[Gateway]:
    with fake_upstream() as (url, script), InProcess(gateway_settings(tmp_path, url, database_url)) as basalt:
        yield Gateway(basalt, script, (tmp_path / "admin-key").read_text().strip())


def refused(gateway: Gateway, field: str, method: str, path: str, **kwargs: Any) -> None:
    response = gateway.admin(method, path, **kwargs)
    assert response.status_code == 400, (field, response.status_code, response.text)
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and field in error["message"], (field, error)


def test_limits_that_the_columns_cannot_hold_are_400s_naming_the_field(gateway: Gateway) -> None:
    gateway.project("p")
    for field, value in FIELDS:
        refused(gateway, field, "POST", "/admin/projects", json={"name": f"p-{field}", field: value})
        refused(gateway, field, "PATCH", "/admin/projects/p", json={field: value})
        refused(gateway, field, "POST", "/admin/keys", json={"name": "k", "project": "p", field: value})
    for field, value in [("expires_in", 1e300), ("expires_at", 2**70), ("expires_at", -1)]:
        refused(gateway, field, "POST", "/admin/keys", json={"name": "k", "project": "p", field: value})
    # The largest values that fit are taken, and read back as they were sent.
    largest = {"rpm": 2**31 - 1, "max_concurrency": 2**31 - 1, "daily_budget_usd": 1e15}
    created = gateway.project("big", **largest)
    assert {k: created["limits"][k] for k in largest} == largest
    assert gateway.admin("GET", "/admin/projects/big").json()["limits"]["rpm"] == 2**31 - 1


def test_strings_with_nul_or_past_their_column_are_400s_naming_the_field(gateway: Gateway) -> None:
    gateway.project("p")
    for name in ("a\x00b", "n" * 201, ""):
        refused(gateway, "name", "POST", "/admin/projects", json={"name": name})
        refused(gateway, "name", "POST", "/admin/keys", json={"name": name, "project": "p"})
    refused(gateway, "org", "POST", "/admin/projects", json={"name": "q", "org": "o\x00"})
    refused(gateway, "org", "POST", "/admin/projects", json={"name": "q", "org": "o" * 201})
    refused(gateway, "project", "POST", "/admin/keys", json={"name": "k", "project": "p\x00"})
    refused(gateway, "models", "POST", "/admin/keys", json={"name": "k", "project": "p", "models": ["m\x00"]})
    refused(gateway, "project", "GET", "/admin/projects/p%00")
    refused(gateway, "project", "PATCH", "/admin/projects/p%00", json={"rpm": 1})
    refused(gateway, "project", "GET", "/admin/keys", params={"project": "p\x00"})
    refused(gateway, "key_id", "DELETE", "/admin/keys/key_%00")
    refused(gateway, "key_id", "POST", "/admin/keys/" + "k" * 300 + "/revoke")
    for field in ("project", "key", "model"):
        refused(gateway, field, "GET", "/admin/usage", params={field: "x\x00"})
        refused(gateway, field, "GET", "/admin/usage", params={field: "x" * 201, "records": "1"})
    for version in ("v" * 41, "v\x00"):
        refused(gateway, "version", "POST", "/admin/guardrails", json={"name": "g", "version": version})
    for value in ("1e999", "nan", "-inf", "9" * 200):
        refused(gateway, "since", "GET", "/admin/usage", params={"since": value})
    assert gateway.admin("GET", "/admin/usage", params={"model": "m", "since": "2026-01-01"}).status_code == 200


def test_the_cli_holds_its_options_to_the_same_bounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "basalt.yaml"
    config.write_text(f"control: {{database: 'sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}'}}\n")
    args = ["--config", str(config)]
    assert main(["projects", "create", "p", *args]) == 0
    capsys.readouterr()
    for command, field in [
        (["projects", "create", "q", "--rpm", str(2**63)], "rpm"),
        (["projects", "create", "q", "--daily-budget-usd", "1e300"], "daily_budget_usd"),
        (["projects", "create", "q" * 201], "name"),
        (["projects", "update", "p", "--max-concurrency", str(2**31)], "max_concurrency"),
        (["keys", "create", "--project", "p", "--name", "k", "--output-tpm", str(2**40)], "output_tpm"),
        (["keys", "create", "--project", "p", "--name", "k", "--expires-in", "99999999999d"], "expires_in"),
        (["usage", "--since", "1e999"], "since"),
        (["usage", "--model", "m" * 300], "--model"),
    ]:
        assert main([*command, *args]) == 1, command
        err = capsys.readouterr().err
        assert err.startswith("basalt: ") and field in err and "Traceback" not in err, (command, err)


def test_usage_reports_answer_a_retryable_error_while_the_database_is_gone(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "FLUSH_WAIT_SECONDS", 1.0)
    name = pg_url.rsplit("/", 1)[1]
    with fake_upstream() as (url, _):
        settings = gateway_settings(tmp_path, url, pg_url)
        settings.control.auth = False  # no key lookups: only the ledger needs the database
        with InProcess(settings) as basalt, basalt.http_client() as http:
            body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
            assert http.post("/v1/messages", json=body).status_code == 200
            psql(f"DROP DATABASE {name} WITH (FORCE)")
            answered = http.post("/v1/messages", json=body)  # durable in the journal, waiting for the database
            assert answered.status_code == 200
            started = time.monotonic()
            report = http.get("/admin/usage")
            assert report.status_code == 529 and "ledger" in report.json()["error"]["message"]
            assert time.monotonic() - started < 5 and report.headers["retry-after"] == "1"
            psql(f"CREATE DATABASE {name}")
            asyncio.run(migrated(pg_url))
            records = http.get("/admin/usage", params={"records": "1"}).json()["data"]
            assert answered.headers["request-id"] in {r["request_id"] for r in records}
            assert {r["status"] for r in records} == {"ok"}


async def migrated(url: str) -> None:
    store = Store(url).connect()
    await store.migrate()
    await store.close()
