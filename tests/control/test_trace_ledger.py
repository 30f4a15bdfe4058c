"""The ledger row carries the call's trace id (revision 0003), on SQLite and PostgreSQL: the migration over rows that
exist, the row written from the flow's record at reservation and at settlement, and the filter by trace id."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect
from sqlalchemy.engine import Connection

from basalt.canonical import parse_messages_request
from basalt.catalog import Catalog
from basalt.cli import main
from basalt.config import ControlSettings, Settings
from basalt.control import ControlPlane, Principal
from basalt.control.schema import usage
from basalt.control.store import Store
from basalt.flow import Call, CallOptions, Flow
from basalt.guard import Guardrails
from basalt.providers.mock import MockProvider, text_answer

MIGRATIONS = Path(__file__).resolve().parents[2] / "basalt" / "control" / "migrations" / "alembic.ini"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def to_revision(connection: Connection, revision: str, down: bool = False) -> None:
    config = Config(str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def columns_and_indexes(connection: Connection) -> tuple[set[str], set[str]]:
    found = inspect(connection)
    return {c["name"] for c in found.get_columns("usage")}, {i["name"] for i in found.get_indexes("usage") if i["name"]}


def test_revision_0003_adds_the_trace_id_over_existing_rows_and_goes_back(database_url: str) -> None:
    old_row = {
        "request_id": "before-0003",
        "endpoint": "messages",
        "model": "m",
        "status": "ok",
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reserved_input_tokens": 1,
        "reserved_output_tokens": 2,
        "reserved_cost_usd": 0.0,
        "cost_usd": 0.0,
        "started_at": time.time(),
        "instance": "t",
    }

    async def check() -> list[Any]:
        store = Store(database_url).connect()
        seen: list[Any] = []
        try:
            async with store.db.begin() as conn:
                await conn.run_sync(to_revision, "0002")
                await conn.execute(insert(usage).values(**old_row))  # the columns of 0002 only
                seen.append(await conn.run_sync(columns_and_indexes))
                await conn.run_sync(to_revision, "0003")
                seen.append(await conn.run_sync(columns_and_indexes))
                await conn.run_sync(to_revision, "head")  # later revisions add columns the table's select names
            seen.append(await store.usage_records({}, 10))
            async with store.db.begin() as conn:
                await conn.run_sync(to_revision, "0002", True)
                seen.append(await conn.run_sync(columns_and_indexes))
            await store.migrate()  # and up again, as a start does
            seen.append(await store.usage_records({}, 10))
        finally:
            await store.close()
        return seen

    before, after, rows, down, again = asyncio.run(check())
    assert "trace_id" not in before[0] and "ix_usage_trace" not in before[1]
    assert "trace_id" in after[0] and "ix_usage_trace" in after[1]
    assert [(r["request_id"], r["trace_id"]) for r in rows] == [("before-0003", None)]  # an old row: no trace
    assert "trace_id" not in down[0] and "ix_usage_trace" not in down[1]
    assert [(r["request_id"], r["trace_id"]) for r in again] == [("before-0003", None)]


def flow_on(database_url: str, home: Path) -> tuple[Flow, ControlPlane]:
    settings = Settings(home=home, serve_local=False, control=ControlSettings(database=database_url))
    control = ControlPlane(settings)
    control.prepare()
    catalog = Catalog()
    catalog.register(MockProvider(text_answer("Hi", " there"), model="m"))
    return Flow(catalog, control, Guardrails(), {}), control


def a_call(request_id: str, traceparent: str | None) -> Call:
    request = parse_messages_request({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]})
    return Call(Principal(), request, "messages", request_id, CallOptions(traceparent=traceparent))


def test_the_row_carries_the_trace_id_from_reservation_to_settlement_and_is_found_by_it(
    database_url: str, tmp_path: Path
) -> None:
    flow, control = flow_on(database_url, tmp_path)

    async def rows() -> dict[str, dict[str, Any]]:
        await control.context().ledger.flush()
        return {r["request_id"]: r for r in await control.store().usage_records({}, 100)}

    async def go() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        traced, untraced = a_call("req_traced", TRACEPARENT.upper()), a_call("req_plain", None)
        events = await flow.answer(traced)
        reserved = (await rows())["req_traced"]  # admitted, not answered yet: the reservation alone
        _ = [batch async for batch in events]
        _ = [batch async for batch in await flow.answer(untraced)]
        settled = await rows()
        found = await control.store().usage_records({"trace_id": TRACE}, 10)
        report = await control.store().usage_report({"trace_id": TRACE}, ["model"])
        await control.close()
        return reserved, settled, found, report

    reserved, settled, found, report = asyncio.run(go())
    assert (reserved["status"], reserved["trace_id"]) == ("reserved", TRACE)  # lowercase, as W3C writes it
    assert (settled["req_traced"]["status"], settled["req_traced"]["trace_id"]) == ("ok", TRACE)
    assert (settled["req_plain"]["status"], settled["req_plain"]["trace_id"]) == ("ok", None)
    assert [r["request_id"] for r in found] == ["req_traced"]
    assert [(r["model"], r["requests"], r["output_tokens"]) for r in report] == [("m", 1, 2)]


def test_a_trace_id_found_after_admission_is_written_at_settlement(database_url: str, tmp_path: Path) -> None:
    """Tracing may start a trace for a call that came without one: the settlement writes what the record says."""
    flow, control = flow_on(database_url, tmp_path)

    async def go() -> tuple[Any, Any]:
        the_call = a_call("req_late", None)
        events = await flow.answer(the_call)
        await control.context().ledger.flush()
        before = (await control.store().usage_records({}, 10))[0]["trace_id"]
        the_call.trace_id = TRACE
        _ = [batch async for batch in events]
        await control.context().ledger.flush()
        after = (await control.store().usage_records({"trace_id": TRACE}, 10))[0]["trace_id"]
        await control.close()
        return before, after

    assert asyncio.run(go()) == (None, TRACE)


def test_basalt_usage_reports_one_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'u.db'}"
    flow, control = flow_on(url, tmp_path)

    async def answer() -> None:
        for call in (a_call("req_a", TRACEPARENT), a_call("req_b", None)):
            _ = [batch async for batch in await flow.answer(call)]
        await control.close()

    asyncio.run(answer())
    config = tmp_path / "basalt.yaml"
    config.write_text(f"control: {{database: '{url}'}}\n")
    assert main(["usage", "--by", "model", "--trace-id", TRACE.upper(), "--json", "--config", str(config)]) == 0
    assert [(r["model"], r["requests"]) for r in json.loads(capsys.readouterr().out)] == [("m", 1)]
    assert main(["usage", "--trace-id", "nope", "--config", str(config)]) != 0
    assert "trace_id: 32 hexadecimal digits" in capsys.readouterr().err
