"""The usage ledger against real SQLite and PostgreSQL: rows the database refuses, a database that is not there yet,
journals a crash left in any state, and runs that died (as pid 1 of a pid namespace) or are still alive."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from basalt import Settings
from basalt.config import ControlSettings
from basalt.control.bounds import INT_MAX
from basalt.control.journal import Journal
from basalt.control.ledger import Ledger, replay
from basalt.control.plane import ControlPlane
from basalt.control.store import Store
from basalt.control.writes import DEAD_LETTER

from .conftest import PG, psql

INSTANCE = "test-host:8000"
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def reservation(rid: str, **values: Any) -> dict[str, Any]:
    row = {
        "request_id": rid,
        "endpoint": "messages",
        "model": "m",
        "status": "reserved",
        "reserved_input_tokens": 5,
        "reserved_output_tokens": 20,
        "started_at": time.time(),
        "instance": INSTANCE,
    }
    return {**row, **values}


def settlement(rid: str, **values: Any) -> dict[str, Any]:
    return {"request_id": rid, "status": "ok", "output_tokens": 6, "finished_at": time.time(), **values}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url).connect()
    await store.migrate()
    yield store
    await store.close()


async def rows(store: Store) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in await store.usage_records({}, 10_000)}


def dead_letters(directory: Path) -> list[dict[str, Any]]:
    path = directory / DEAD_LETTER
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_rows_the_database_refuses_never_hold_back_the_rows_after_them(store: Store, tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    ledger = Ledger(store, Journal(directory, INSTANCE))
    postgres = store.db.dialect.name == "postgresql"
    await ledger.reserve(reservation("before"))
    # Out of range on both databases (64 bits on SQLite, 32 on PostgreSQL), a NUL in a string and an overlong one
    # (refused by PostgreSQL): stored with their values fitted to the columns.
    await ledger.reserve(reservation("huge", reserved_output_tokens=2**63))
    await ledger.reserve(reservation("int32", reserved_output_tokens=2**31 + 1 if postgres else 2**63 + 1))
    await ledger.reserve(reservation("nul", model="a\x00b", deployment="x" * 400 if postgres else None))
    await ledger.reserve(reservation("nothing", endpoint=None))  # NOT NULL: fitted to ""
    await ledger.reserve(reservation("before", model="again"))  # a second row of one request: dead-lettered
    ledger.settle(settlement("before", output_tokens=2**70))  # past even JSON's 64 bits: fitted in the journal
    await asyncio.wait_for(ledger.flush(), 15)
    await ledger.reserve(reservation("after"))
    ledger.settle(settlement("after"))
    await asyncio.wait_for(ledger.flush(), 15)

    stored = await rows(store)
    assert set(stored) == {"before", "huge", "int32", "nul", "nothing", "after"}
    assert stored["huge"]["reserved_output_tokens"] == INT_MAX == stored["int32"]["reserved_output_tokens"]
    assert stored["before"]["output_tokens"] == INT_MAX and stored["before"]["status"] == "ok"
    assert stored["nul"]["model"] == ("a\ufffdb" if postgres else "a\x00b")
    assert stored["after"]["status"] == "ok" and stored["nothing"]["endpoint"] == ""
    assert ledger.dead_lettered == 1 and ledger.fitted == (4 if postgres else 3)
    [dead] = dead_letters(directory)
    assert dead["kind"] == "r" and dead["row"]["model"] == "again" and "IntegrityError" in dead["error"]
    await ledger.close()
    assert sorted(p.name for p in directory.iterdir()) == [DEAD_LETTER]  # every segment and the lock file gone


async def test_a_database_that_is_not_there_yet_keeps_every_row_until_it_is(database_url: str, tmp_path: Path) -> None:
    postgres = database_url.startswith("postgresql")
    url = PG.format("basalt_later_" + tmp_path.name[-6:].replace("-", "_")) if postgres else database_url
    store = Store(url).connect()  # PostgreSQL: no such database yet; SQLite: no tables yet
    ledger = Ledger(store, Journal(tmp_path / "ledger", INSTANCE))
    try:
        await ledger.reserve(reservation("a"))
        ledger.settle(settlement("a"))
        flushed = asyncio.ensure_future(ledger.flush())
        await asyncio.sleep(1.5)  # a write failed and was retried at least once
        assert not flushed.done()
        await ledger.reserve(reservation("b"))
        if postgres:
            psql(f"CREATE DATABASE {url.rsplit('/', 1)[1]}")
        migrator = Store(url).connect()
        await migrator.migrate()
        await asyncio.wait_for(flushed, 15)
        await asyncio.wait_for(ledger.flush(), 15)
        stored = await rows(migrator)
        await migrator.close()
        assert stored["a"]["status"] == "ok" and stored["b"]["status"] == "reserved"
        assert ledger.dead_lettered == 0 and not dead_letters(tmp_path / "ledger")
        await ledger.close()
    finally:
        await store.close()
        if postgres:
            psql(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def plane(home: Path, database_url: str) -> ControlPlane:
    control = ControlSettings(database=database_url, instance=INSTANCE)
    return ControlPlane(Settings(home=home, serve_local=False, control=control))


def journal_line(kind: str, row: dict[str, Any]) -> bytes:
    return orjson.dumps([kind, row]) + b"\n"


async def test_start_up_survives_any_journal(store: Store, tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    directory.mkdir()
    run = "r0000000000001.0123abcd"
    (directory / f"ledger-test-host_8000-{run}-000001.jsonl").write_bytes(
        b"".join(
            [
                journal_line("r", reservation("fine", run=run)),
                b"{not json\n",
                journal_line("x", {"request_id": "unknown kind"}),
                b"[1, 2]\n",
                journal_line("r", reservation("huge", reserved_output_tokens=2**63, run=run)),
                json.dumps(["r", reservation("past 64 bits", reserved_output_tokens=2**70)]).encode() + b"\n",
                journal_line("r", reservation("fine", model="a second row of one request", run=run)),
                journal_line("s", settlement("fine")),
                b'["s", {"request_id": "cut sh',  # the crash cut the last write short
            ]
        )
    )
    (directory / f"ledger-test-host_8000-{run}.lock").touch()
    # A segment named the old way, `<pid>-<counter>`, whose pid (ours) is alive: replayed all the same.
    old = directory / f"ledger-test-host_8000-{os.getpid()}-000003.jsonl"
    old.write_bytes(journal_line("r", reservation("old")) + journal_line("s", settlement("old")))
    # Another instance's journal, whose prefix starts like ours: not ours to replay.
    other = directory / f"ledger-test-host_8000-x-{run}-000001.jsonl"
    other.write_bytes(journal_line("r", reservation("other instance")))

    await asyncio.to_thread(plane(tmp_path, store.url).prepare)

    stored = await rows(store)
    assert set(stored) == {"fine", "huge", "past 64 bits", "old"}
    assert stored["fine"]["status"] == "ok" and stored["old"]["status"] == "ok"
    assert stored["huge"]["status"] == "interrupted"  # reserved and never settled
    assert stored["huge"]["reserved_output_tokens"] == INT_MAX
    assert stored["fine"]["model"] == "m"
    dead = dead_letters(directory)
    assert [d["row"] for d in dead if d["kind"] == "line"] == [
        "{not json",
        '["x",{"request_id":"unknown kind"}]',
        "[1, 2]",
    ]
    assert [d["row"]["model"] for d in dead if d["kind"] == "r"] == ["a second row of one request"]
    assert sorted(p.name for p in directory.iterdir()) == sorted([DEAD_LETTER, other.name])


CHILD = """
import asyncio, os, signal, sys, time
from pathlib import Path
from basalt.control.journal import Journal
from basalt.control.ledger import Ledger
from basalt.control.store import Store

async def main() -> None:
    store = Store(sys.argv[1]).connect()
    ledger = Ledger(store, Journal(Path(sys.argv[2]), sys.argv[3]))
    row = dict(endpoint="messages", model="m", status="reserved", started_at=time.time(), instance=sys.argv[3])
    for rid in ("settled", "settled later", "open"):
        await ledger.reserve({"request_id": rid, **row})
    await ledger.flush()  # in the database as `reserved`
    ledger.settle({"request_id": "settled", "status": "ok", "output_tokens": 6})
    await ledger.flush()
    ledger.settle({"request_id": "settled later", "status": "ok", "output_tokens": 7})  # in the journal only
    await ledger.reserve({"request_id": "journal only", **row})
    print(os.getpid(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


async def test_a_run_killed_as_pid_1_keeps_what_it_settled(store: Store, tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    command = [sys.executable, str(script), store.url, str(directory), INSTANCE]
    # pid 1 of a new pid namespace, as a server in a container is: its pid is alive (and ours may be 1 too).
    killed = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", *command], capture_output=True, text=True)
    assert killed.stdout.strip() == "1", killed.stderr
    assert len(list(directory.glob("*.jsonl"))) >= 1

    await asyncio.to_thread(plane(tmp_path, store.url).prepare)

    stored = await rows(store)
    assert {k: r["status"] for k, r in stored.items()} == {
        "settled": "ok",
        "settled later": "ok",
        "open": "interrupted",
        "journal only": "interrupted",
    }
    assert stored["settled later"]["output_tokens"] == 7
    assert list(directory.iterdir()) == []


async def test_a_live_runs_open_rows_are_left_to_it(store: Store, tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    live = Ledger(store, Journal(directory, INSTANCE))  # another process of this instance, still serving
    await live.reserve(reservation("in flight"))
    await live.flush()
    await live.reserve(reservation("in flight, journal only"))
    other = await replay(store, directory, INSTANCE)
    assert other.live == {live.journal.run} and other.rows == 0

    await asyncio.to_thread(plane(tmp_path, store.url).prepare)  # a second start of the same instance

    assert (await rows(store))["in flight"]["status"] == "reserved"
    live.settle(settlement("in flight"))
    live.settle(settlement("in flight, journal only"))
    await live.flush()
    assert {r["status"] for r in (await rows(store)).values()} == {"ok"}
    await live.close()
