"""Files in a directory under the home: one machine's store (several replicas use the database store).

Layout: files/<owner digest>/<file id> holds the bytes and <file id>.json what is known of it. The owner's directory
is named by a digest of the owner, so no owner string can name a path; a file id is checked before it names one.
A file appears only once whole: its bytes go to <id>.part, are renamed into place, and only then is its .json
written (renamed into place too), so a killed upload leaves nothing a listing shows; its piece is swept by the
owner's next upload once a day old.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import os
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from .modes import FILE_MODE, private_dir
from .types import (
    CHUNK_BYTES,
    FileInfo,
    ListOrder,
    Purpose,
    bounded,
    new_file_id,
    no_such_file,
    valid_file_id,
)

STALE_SECONDS = 86_400.0


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, owner: str, create: bool = False) -> Path:
        path = self.root / hashlib.sha256(owner.encode()).hexdigest()[:32]
        return private_dir(path) if create else path

    async def put(
        self,
        owner: str,
        purpose: Purpose,
        filename: str,
        chunks: AsyncIterable[bytes],
        expires_at: int | None = None,
    ) -> FileInfo:
        folder = await asyncio.to_thread(self._dir, owner, True)
        await asyncio.to_thread(_sweep, folder)
        file_id = new_file_id()
        part = folder / f"{file_id}.part"
        out = await asyncio.to_thread(_create, part)
        size = 0
        try:
            try:
                async for chunk in bounded(chunks):
                    await asyncio.to_thread(out.write, chunk)
                    size += len(chunk)
            finally:
                await asyncio.to_thread(out.close)
            info = FileInfo(file_id, owner, purpose, filename, size, int(time.time()), expires_at)
            await asyncio.to_thread(_commit, part, folder, info)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return info

    async def get(self, owner: str, file_id: str) -> FileInfo:
        info = await asyncio.to_thread(self._read, owner, file_id) if valid_file_id(file_id) else None
        if info is None:
            raise no_such_file(file_id)
        return info

    def _read(self, owner: str, file_id: str) -> FileInfo | None:
        try:
            found = json.loads((self._dir(owner) / f"{file_id}.json").read_bytes())
        except FileNotFoundError:
            return None
        info = _info(found)
        return None if info.expired(time.time()) else info

    async def list(
        self, owner: str, purpose: str | None, limit: int, after: str | None, order: ListOrder
    ) -> tuple[list[FileInfo], bool]:
        every = await asyncio.to_thread(self._all, owner)
        every.sort(key=lambda f: (f.created_at, f.id), reverse=order == "desc")
        if purpose is not None:
            every = [f for f in every if f.purpose == purpose]
        if after is not None:
            at = next((i for i, f in enumerate(every) if f.id == after), None)
            every = every[at + 1 :] if at is not None else []
        return every[:limit], len(every) > limit

    def _all(self, owner: str) -> builtins.list[FileInfo]:
        folder = self._dir(owner)
        if not folder.is_dir():
            return []
        found = []
        now = time.time()
        for path in folder.glob("file-*.json"):
            try:
                info = _info(json.loads(path.read_bytes()))
            except FileNotFoundError:  # deleted meanwhile
                continue
            if not info.expired(now):
                found.append(info)
        return found

    async def content(self, owner: str, file_id: str) -> AsyncIterator[bytes]:
        await self.get(owner, file_id)
        source = await asyncio.to_thread(open, self._dir(owner) / file_id, "rb")
        try:
            while chunk := await asyncio.to_thread(source.read, CHUNK_BYTES):
                yield chunk
        finally:
            source.close()

    async def delete(self, owner: str, file_id: str) -> FileInfo:
        info = await self.get(owner, file_id)
        folder = self._dir(owner)
        # The description first: from then on the file is gone for every reader, whatever happens to its bytes.
        await asyncio.to_thread((folder / f"{file_id}.json").unlink, True)
        await asyncio.to_thread((folder / file_id).unlink, True)
        return info

    async def expire(self, now: float) -> int:
        return await asyncio.to_thread(_expire, self.root, now)


def _expire(root: Path, now: float) -> int:
    """Reads every description (fine for thousands of files, not millions) and removes the expired files."""
    removed = 0
    for described in root.glob("*/file-*.json"):
        try:
            info = _info(json.loads(described.read_bytes()))
        except (FileNotFoundError, ValueError, KeyError):
            continue
        if info.expired(now):
            described.unlink(missing_ok=True)
            (described.parent / info.id).unlink(missing_ok=True)
            removed += 1
    return removed


def _sweep(folder: Path) -> None:
    """Removes the pieces of uploads a killed process left (a day old: no upload lasts that long)."""
    old = time.time() - STALE_SECONDS
    for part in folder.glob("file-*.part"):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mtime < old:
                part.unlink()


def _create(path: Path) -> BinaryIO:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")


def _commit(part: Path, folder: Path, info: FileInfo) -> None:
    part.rename(folder / info.id)
    described = folder / f"{info.id}.json.part"
    with _create(described) as out:
        out.write(json.dumps(_record(info)).encode())
    described.rename(folder / f"{info.id}.json")


def _record(info: FileInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "owner": info.owner,
        "purpose": info.purpose,
        "filename": info.filename,
        "bytes": info.bytes,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
    }


def _info(found: dict[str, Any]) -> FileInfo:
    return FileInfo(
        found["id"], found["owner"], found["purpose"], found["filename"], found["bytes"], found["created_at"],
        found.get("expires_at"),
    )  # fmt: skip
