"""Files in the control database, in rows of up to 1 MiB: the store several replicas share.

A file's row is written first, marked incomplete, then its chunks one transaction each (so an upload never holds
SQLite's single writer lock for long, nor PostgreSQL's transaction open for 200 MB), then the row is completed with
its size. Readers see complete rows only; a replica killed mid-upload leaves an incomplete row, and its chunks are
swept by the owner's next upload once a day old. Content is read one chunk per query, so a file is never whole in
memory.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ColumnElement

from ..control.schema import metadata
from .types import FileInfo, ListOrder, Purpose, bounded, new_file_id, no_such_file, valid_file_id

STALE_SECONDS = 86_400.0
# The tables migration 0006 creates, described here for the queries (the files room owns them), on the control
# database's one metadata, so that the check of migrations against declared tables sees them too.
files = Table(
    "files",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("expires_at", BigInteger),  # unix seconds; NULL: kept until deleted (migration 0008)
    Index("ix_files_owner_created", "owner", "created_at"),
    Index("ix_files_expires", "expires_at"),
)
file_chunks = Table(
    "file_chunks",
    metadata,
    Column("file_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


class DatabaseFileStore:
    def __init__(self, engine: Callable[[], AsyncEngine]) -> None:
        self._engine = engine  # the calling event loop's engine (the control plane keeps one per loop)

    async def put(
        self,
        owner: str,
        purpose: Purpose,
        filename: str,
        chunks: AsyncIterable[bytes],
        expires_at: int | None = None,
    ) -> FileInfo:
        db = self._engine()
        await self._sweep(owner)
        file_id, created = new_file_id(), int(time.time())
        row = {"id": file_id, "owner": owner, "purpose": purpose, "filename": filename, "created_at": created,
               "expires_at": expires_at}  # fmt: skip
        async with db.begin() as conn:
            await conn.execute(insert(files).values(**row, bytes=0, complete=False))
        size = seq = 0
        try:
            async for chunk in bounded(chunks):
                async with db.begin() as conn:
                    await conn.execute(insert(file_chunks).values(file_id=file_id, seq=seq, data=chunk))
                size, seq = size + len(chunk), seq + 1
            async with db.begin() as conn:
                await conn.execute(update(files).where(files.c.id == file_id).values(bytes=size, complete=True))
        except BaseException:
            await self._remove(file_id)
            raise
        return FileInfo(file_id, owner, purpose, filename, size, created, expires_at)

    async def get(self, owner: str, file_id: str) -> FileInfo:
        found = None
        if valid_file_id(file_id):
            query = select(files).where(files.c.id == file_id, files.c.owner == owner, files.c.complete, _live())
            async with self._engine().connect() as conn:
                found = (await conn.execute(query)).first()
        if found is None:
            raise no_such_file(file_id)
        return _info(found)

    async def list(
        self, owner: str, purpose: str | None, limit: int, after: str | None, order: ListOrder
    ) -> tuple[list[FileInfo], bool]:
        query = select(files).where(files.c.owner == owner, files.c.complete, _live())
        if purpose is not None:
            query = query.where(files.c.purpose == purpose)
        if after is not None:
            mark = await self._mark(owner, after)
            if mark is None:
                return [], False
            newer = or_(files.c.created_at > mark[0], and_(files.c.created_at == mark[0], files.c.id > mark[1]))
            older = or_(files.c.created_at < mark[0], and_(files.c.created_at == mark[0], files.c.id < mark[1]))
            query = query.where(newer if order == "asc" else older)
        keys = (files.c.created_at, files.c.id) if order == "asc" else (files.c.created_at.desc(), files.c.id.desc())
        async with self._engine().connect() as conn:
            rows = (await conn.execute(query.order_by(*keys).limit(limit + 1))).all()
        return [_info(r) for r in rows[:limit]], len(rows) > limit

    async def _mark(self, owner: str, file_id: str) -> tuple[int, str] | None:
        query = select(files.c.created_at, files.c.id).where(files.c.id == file_id, files.c.owner == owner)
        async with self._engine().connect() as conn:
            found = (await conn.execute(query)).first()
        return (found[0], found[1]) if found is not None else None

    async def content(self, owner: str, file_id: str) -> AsyncIterator[bytes]:
        await self.get(owner, file_id)
        seq = 0
        while True:
            query = select(file_chunks.c.data).where(file_chunks.c.file_id == file_id, file_chunks.c.seq == seq)
            async with self._engine().connect() as conn:
                data = (await conn.execute(query)).scalar()
            if data is None:
                return
            yield bytes(data)
            seq += 1

    async def delete(self, owner: str, file_id: str) -> FileInfo:
        info = await self.get(owner, file_id)
        await self._remove(file_id)
        return info

    async def expire(self, now: float) -> int:
        query = select(files.c.id).where(files.c.expires_at <= now).limit(1000)  # an index range scan
        async with self._engine().connect() as conn:
            found = (await conn.execute(query)).scalars().all()
        for file_id in found:
            await self._remove(file_id)
        return len(found)

    async def _sweep(self, owner: str) -> None:
        """Removes the owner's uploads that a killed replica left incomplete (a day old: no upload lasts that long)."""
        stale = select(files.c.id).where(
            files.c.owner == owner, files.c.complete.is_(False), files.c.created_at < time.time() - STALE_SECONDS
        )
        async with self._engine().connect() as conn:
            found = (await conn.execute(stale)).scalars().all()
        for file_id in found:
            await self._remove(file_id)

    async def _remove(self, file_id: str) -> None:
        async with self._engine().begin() as conn:
            await conn.execute(delete(files).where(files.c.id == file_id))
            await conn.execute(delete(file_chunks).where(file_chunks.c.file_id == file_id))


def _live() -> ColumnElement[bool]:
    """Files not yet expired (the expiry sweep removes the others later)."""
    return or_(files.c.expires_at.is_(None), files.c.expires_at > time.time())


def _info(row: Row[tuple[object, ...]]) -> FileInfo:
    m = row._mapping
    expires = None if m["expires_at"] is None else int(m["expires_at"])
    return FileInfo(m["id"], m["owner"], m["purpose"], m["filename"], int(m["bytes"]), int(m["created_at"]), expires)
