"""A batch item that runs twice in one run (a rate limit's retry) journals two reservations of its one request id;
a restart's replay keeps the one row, settled by the last attempt, and dead-letters nothing (a second reservation of
an interactive request is still dead-lettered)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from basalt.control.store import Store

from ..control.test_ledger import dead_letters, journal_line, plane, reservation, rows, settlement

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url).connect()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def test_a_rerun_items_second_reservation_is_its_one_row(store: Store, tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    directory.mkdir()
    run = "r0000000000001.0123abcd"
    item = {"run": run, "batch_id": "msgbatch_x"}
    (directory / f"ledger-test-host_8000-{run}-000001.jsonl").write_bytes(
        b"".join(
            [
                journal_line("r", reservation("item", **item)),
                journal_line("s", settlement("item", status="error", error_type="rate_limit_error")),
                journal_line("r", reservation("item", **item)),
                journal_line("s", settlement("item", error_type=None)),
                journal_line("r", reservation("call", run=run)),
                journal_line("r", reservation("call", run=run)),
            ]
        )
    )
    (directory / f"ledger-test-host_8000-{run}.lock").touch()
    await asyncio.to_thread(plane(tmp_path, store.url).prepare)
    stored = await rows(store)
    assert stored["item"]["status"] == "ok" and stored["item"]["batch_id"] == "msgbatch_x"
    assert stored["item"]["error_type"] is None
    assert [d["row"]["request_id"] for d in dead_letters(directory)] == ["call"]
