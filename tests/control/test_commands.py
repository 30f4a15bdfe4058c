"""`basalt projects|keys|usage` against a real SQLite database, and the Alembic migrations against the schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

import basalt.batches.tables
import basalt.evals.tables
import basalt.files.database  # noqa: F401  # every room declares its tables on the control database's metadata
from basalt.cli import main
from basalt.control import Store
from basalt.control.schema import metadata


def test_projects_keys_and_usage_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "basalt.yaml"
    config.write_text(f"control: {{database: 'sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}'}}\n")
    args = ["--config", str(config)]
    assert main(["projects", "create", "web", "--rpm", "60", "--daily-budget-usd", "5", *args]) == 0
    project_id = capsys.readouterr().out.strip()
    assert project_id.startswith("proj_")
    assert (
        main(["keys", "create", "--project", "web", "--name", "site", "--models", "m*", "--expires-in", "30d", *args])
        == 0
    )
    created = capsys.readouterr()
    key = created.out.strip()
    assert key.startswith("bsk_") and "only time" in created.err
    assert main(["keys", "list", "--project", "web", *args]) == 0
    listing = capsys.readouterr().out
    assert "site" in listing and key not in listing and key[-4:] in listing
    assert main(["projects", "list", *args]) == 0
    projects = capsys.readouterr().out.splitlines()
    assert projects[1].split()[1:2] == ["web"] and "60" in projects[1].split()  # the rpm column
    key_id = "key_" + key.split("_")[1]
    assert main(["keys", "revoke", key_id, *args]) == 0
    assert main(["keys", "create", "--name", "orphan", *args]) == 1  # a key needs a project (or --admin)
    assert "needs --project" in capsys.readouterr().err
    assert main(["usage", "--by", "day,model", "--json", *args]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["usage", "--by", "colour", *args]) == 1
    capsys.readouterr()
    for command in (["usage", "--project", "typo"], ["keys", "list", "--project", "typo"]):  # no silent "all"
        assert main([*command, *args]) == 1
        assert "no project 'typo'" in capsys.readouterr().err


@pytest.mark.parametrize("url_fixture", ["sqlite", "postgresql"])
def test_migrations_build_exactly_the_declared_schema(
    url_fixture: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}" if url_fixture == "sqlite" else request.getfixturevalue("pg_url")

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async def check() -> list[object]:
        store = Store(url).connect()
        try:
            await store.migrate()
            await store.migrate()  # idempotent: a restart runs it again
            async with store.db.connect() as conn:
                return await conn.run_sync(differences)
        finally:
            await store.close()

    assert asyncio.run(check()) == []


@pytest.mark.parametrize("url_fixture", ["sqlite", "postgresql"])
def test_usage_report_groups_by_utc_day_and_month(
    url_fixture: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}" if url_fixture == "sqlite" else request.getfixturevalue("pg_url")
    base = {"endpoint": "messages", "status": "ok", "instance": "t", "reserved_input_tokens": 0}
    base |= {"reserved_output_tokens": 0, "reserved_cost_usd": 0.0, "cache_read_tokens": 0, "cache_write_tokens": 0}
    rows = [  # 2026-11-30 23:59:59 UTC, 2026-12-01 00:00:01 UTC twice
        {
            **base,
            "request_id": "a",
            "model": "m",
            "started_at": 1796083199.0,
            "input_tokens": 1,
            "output_tokens": 2,
            "cost_usd": 0.5,
        },
        {
            **base,
            "request_id": "b",
            "model": "m",
            "started_at": 1796083201.0,
            "input_tokens": 3,
            "output_tokens": 4,
            "cost_usd": 0.25,
        },
        {
            **base,
            "request_id": "c",
            "model": "n",
            "started_at": 1796083201.0,
            "input_tokens": 5,
            "output_tokens": 6,
            "cost_usd": 1.0,
        },
    ]

    async def report() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        store = Store(url).connect()
        try:
            await store.migrate()
            await store.write_usage(rows, [])
            return await store.usage_report({}, ["day"]), await store.usage_report({"model": "m"}, ["month", "model"])
        finally:
            await store.close()

    by_day, by_month = asyncio.run(report())
    assert [(r["day"], r["requests"], r["input_tokens"]) for r in by_day] == [
        ("2026-11-30", 1, 1),
        ("2026-12-01", 2, 8),
    ]
    assert [(r["month"], r["model"], r["cost_usd"]) for r in by_month] == [
        ("2026-11", "m", 0.5),
        ("2026-12", "m", 0.25),
    ]
