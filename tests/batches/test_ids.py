"""Batch ids from callers are checked for the shape Basalt makes before any query: a NUL byte or a huge id is no
batch (404) or a bad cursor (400), never a database error (PostgreSQL refuses NUL bytes in text)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from basalt.batches import BatchEngine
from basalt.batches.ids import batch_id, valid_batch_id
from basalt.config import BatchSettings, ControlSettings, Settings
from basalt.control import ControlPlane, Principal
from basalt.errors import InvalidRequest, NotFound


def test_the_ids_basalt_makes_are_valid_and_others_are_not() -> None:
    assert valid_batch_id(batch_id("msgbatch")) and valid_batch_id(batch_id("batch"))
    made = batch_id("msgbatch")
    for bad in (made[:-1], made + "0", made[:-1] + "\x00", made.lower(), "msgbatch_" + "U" * 26, "x" * 10_000, ""):
        assert not valid_batch_id(bad), bad


def test_hostile_ids_are_a_404_or_a_400_on_either_database(database_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, serve_local=False, control=ControlSettings(database=database_url))
    control = ControlPlane(settings)
    control.prepare()
    engine = BatchEngine(BatchSettings(enabled=False), control, None, 1, lambda model: None)  # type: ignore[arg-type]
    hostile = "msgbatch_" + "\x00" * 26

    async def go() -> None:
        try:
            for batch in (hostile, "msgbatch_\x00", "m" * 100_000):
                with pytest.raises(NotFound):
                    await engine.get(Principal(), batch)
            with pytest.raises(InvalidRequest, match="after_id"):
                await engine.list(Principal(), "anthropic", 20, after_id=hostile)
            assert await engine.list(Principal(), "anthropic", 20, after_id=batch_id("msgbatch")) == ([], False)
        finally:
            await control.close()

    asyncio.run(go())
