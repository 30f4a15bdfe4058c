"""Both file stores behave alike: whole files only, bounded, per owner, paged, streamed back in chunks."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from basalt.control.store import Store
from basalt.errors import NotFound, RequestTooLarge
from basalt.files import CHUNK_BYTES, MAX_FILE_BYTES, FileStore, types
from basalt.files.database import DatabaseFileStore, file_chunks, files
from basalt.files.local import LocalFileStore


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read(store: FileStore, owner: str, file_id: str) -> list[bytes]:
    return [chunk async for chunk in store.content(owner, file_id)]


@pytest.fixture(params=["local", "sqlite", "postgresql"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, asyncio.Runner, FileStore]]:
    """A runner and a store on its loop: the local directory, or the database store on SQLite and PostgreSQL."""
    kind = str(request.param)
    url = request.getfixturevalue("pg_url") if kind == "postgresql" else f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    with asyncio.Runner() as runner:
        db = Store(url).connect()
        runner.run(db.migrate())
        store: FileStore = LocalFileStore(tmp_path / "files") if kind == "local" else DatabaseFileStore(lambda: db.db)
        try:
            yield kind, runner, store
        finally:
            runner.run(db.close())


def test_put_get_content_delete(run: tuple[str, asyncio.Runner, FileStore]) -> None:
    _, runner, store = run
    big = os.urandom(CHUNK_BYTES + 10)
    info = runner.run(store.put("proj_a", "batch", "in.jsonl", pieces(b"ab", big, b"c")))
    assert info.id.startswith("file-") and info.bytes == len(big) + 3 and info.filename == "in.jsonl"
    assert runner.run(store.get("proj_a", info.id)) == info
    chunks = runner.run(read(store, "proj_a", info.id))
    assert b"".join(chunks) == b"ab" + big + b"c" and max(len(c) for c in chunks) <= CHUNK_BYTES
    for other in ("proj_b", "key:k1"):  # another owner finds nothing, not even to delete
        with pytest.raises(NotFound):
            runner.run(store.get(other, info.id))
        with pytest.raises(NotFound):
            runner.run(store.delete(other, info.id))
        with pytest.raises(NotFound):
            runner.run(read(store, other, info.id))
    assert runner.run(store.delete("proj_a", info.id)) == info
    with pytest.raises(NotFound):
        runner.run(store.get("proj_a", info.id))
    assert runner.run(store.list("proj_a", None, 10, None, "desc")) == ([], False)


def test_an_expired_file_is_gone_for_readers_then_swept(run: tuple[str, asyncio.Runner, FileStore]) -> None:
    _, runner, store = run
    now = int(time.time())
    kept = runner.run(store.put("proj_a", "batch", "kept.jsonl", pieces(b"k"), now + 3600))
    soon = runner.run(store.put("proj_a", "batch_output", "soon.jsonl", pieces(b"s"), now + 1))
    forever = runner.run(store.put("proj_a", "batch", "forever.jsonl", pieces(b"f")))
    assert (kept.expires_at, forever.expires_at) == (now + 3600, None)
    assert runner.run(store.get("proj_a", kept.id)) == kept and soon.expires_at == now + 1
    assert runner.run(store.expire(now)) == 0  # nothing had expired by then
    time.sleep(max(0.0, now + 1.05 - time.time()))  # soon's expiry passes: no reader sees it from then on
    with pytest.raises(NotFound):
        runner.run(store.get("proj_a", soon.id))
    with pytest.raises(NotFound):
        runner.run(read(store, "proj_a", soon.id))
    assert {f.id for f in runner.run(store.list("proj_a", None, 10, None, "asc"))[0]} == {kept.id, forever.id}
    assert runner.run(store.expire(time.time())) == 1  # and the sweep removes it
    assert runner.run(store.expire(time.time())) == 0
    assert runner.run(store.get("proj_a", kept.id)) == kept


def test_the_limit_is_openais() -> None:
    assert MAX_FILE_BYTES == 200 * 1024 * 1024


def test_a_file_past_the_limit_leaves_nothing(
    run: tuple[str, asyncio.Runner, FileStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a smaller limit (the same code path; 200 MB three times over takes a while): exactly the limit is
    stored, a byte more is refused and leaves nothing behind."""
    kind, runner, store = run
    limit = 3 * CHUNK_BYTES + 7
    monkeypatch.setattr(types, "MAX_FILE_BYTES", limit)
    block = b"x" * CHUNK_BYTES

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield block

    whole = runner.run(store.put("proj_a", "batch", "exact.jsonl", pieces(block * 3, b"y" * 7)))
    assert whole.bytes == limit
    runner.run(store.delete("proj_a", whole.id))
    with pytest.raises(RequestTooLarge):
        runner.run(store.put("proj_a", "batch", "big.jsonl", endless()))
    assert runner.run(store.list("proj_a", None, 10, None, "desc")) == ([], False)
    if kind == "local":
        assert [p.name for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
    else:  # no row, no chunk
        db = store._engine()  # type: ignore[attr-defined]

        async def rows() -> tuple[int, int]:
            async with db.connect() as conn:
                files = (await conn.execute(text("SELECT count(*) FROM files"))).scalar()
                chunks = (await conn.execute(text("SELECT count(*) FROM file_chunks"))).scalar()
            return files, chunks

        assert runner.run(rows()) == (0, 0)


def test_paging_by_creation_order_and_purpose(run: tuple[str, asyncio.Runner, FileStore]) -> None:
    _, runner, store = run
    made = [runner.run(store.put("proj_a", "batch", f"{i}.jsonl", pieces(b"{}"))) for i in range(5)]
    runner.run(store.put("proj_a", "batch_output", "out.jsonl", pieces(b"{}")))
    runner.run(store.put("proj_b", "batch", "theirs.jsonl", pieces(b"{}")))
    newest = sorted(made, key=lambda f: (f.created_at, f.id), reverse=True)
    page, more = runner.run(store.list("proj_a", "batch", 2, None, "desc"))
    assert page == newest[:2] and more
    page, more = runner.run(store.list("proj_a", "batch", 2, newest[1].id, "desc"))
    assert page == newest[2:4] and more
    page, more = runner.run(store.list("proj_a", "batch", 2, newest[3].id, "desc"))
    assert page == newest[4:] and not more
    page, _ = runner.run(store.list("proj_a", "batch", 10, None, "asc"))
    assert page == newest[::-1]
    every, _ = runner.run(store.list("proj_a", None, 10, None, "desc"))
    assert len(every) == 6 and {f.owner for f in every} == {"proj_a"}


def test_local_files_are_the_owners_only(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = LocalFileStore(tmp_path / "home" / "files")
        info = asyncio.run(store.put("../../etc", "batch", "../x.jsonl", pieces(b"{}")))
    finally:
        os.umask(old)
    paths = list((tmp_path / "home" / "files").rglob("*"))
    assert paths and all(p.is_relative_to(tmp_path / "home" / "files") for p in paths)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths}
    assert modes == {p.name: 0o700 if p.is_dir() else 0o600 for p in paths}
    assert info.id in modes and f"{info.id}.json" in modes


def test_small_pieces_are_gathered_into_chunks(run: tuple[str, asyncio.Runner, FileStore]) -> None:
    """A batch's output arrives a line at a time; the stores keep it in CHUNK_BYTES pieces, not a row a line."""
    _, runner, store = run
    line = b'{"custom_id": "x"}\n'
    count = CHUNK_BYTES // len(line) + 10
    info = runner.run(store.put("proj_a", "batch_output", "out.jsonl", pieces(*[line] * count)))
    chunks = runner.run(read(store, "proj_a", info.id))
    assert [len(c) for c in chunks] == [CHUNK_BYTES, len(line) * count - CHUNK_BYTES]
    assert b"".join(chunks) == line * count


def test_a_killed_uploads_leftovers_are_swept_once_a_day_old(
    run: tuple[str, asyncio.Runner, FileStore], tmp_path: Path
) -> None:
    kind, runner, store = run
    day = 86_400
    if kind == "local":
        assert isinstance(store, LocalFileStore)
        runner.run(store.put("proj_a", "batch", "a.jsonl", pieces(b"{}")))
        folder = next(p for p in (tmp_path / "files").iterdir() if p.is_dir())
        old, recent = folder / "file-old.part", folder / "file-recent.json.part"
        old.write_bytes(b"x")
        recent.write_bytes(b"x")
        os.utime(old, (time.time() - day - 60,) * 2)
        runner.run(store.put("proj_a", "batch", "b.jsonl", pieces(b"{}")))
        assert not old.exists() and recent.exists()
        return
    db = store._engine()  # type: ignore[attr-defined]

    async def leave(file_id: str, age: float) -> None:
        row = {"owner": "proj_a", "purpose": "batch", "filename": "x", "bytes": 0, "complete": False}
        async with db.begin() as conn:
            await conn.execute(insert(files).values(id=file_id, created_at=int(time.time() - age), **row))
            await conn.execute(insert(file_chunks).values(file_id=file_id, seq=0, data=b"x"))

    async def left() -> set[str]:
        async with db.connect() as conn:
            return set((await conn.execute(select(file_chunks.c.file_id))).scalars())

    runner.run(leave("file-old", day + 60))
    runner.run(leave("file-recent", 60))
    made = runner.run(store.put("proj_a", "batch", "b.jsonl", pieces(b"{}")))
    assert runner.run(left()) == {"file-recent", made.id}
