"""What a stored file is, and the one interface every file store has (a local directory, the control database)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import InvalidRequest, NotFound, RequestTooLarge

# OpenAI's limit on a batch input file; also the bound on any one stored file.
MAX_FILE_BYTES = 200 * 1024 * 1024
# What the stores read and write at a time: a database row, a disk write, a piece of a response.
CHUNK_BYTES = 1024 * 1024
MAX_FILENAME = 255
# The purposes Basalt stores files for: uploads for batches and evals, and the batches' own output and error files.
Purpose = Literal["batch", "batch_output", "evals"]
PURPOSES: tuple[Purpose, ...] = ("batch", "batch_output", "evals")
ListOrder = Literal["asc", "desc"]


@dataclass(frozen=True)
class FileInfo:
    id: str  # "file-" + 24 random hexadecimal digits
    owner: str  # the project (or key) whose file it is; see owner_of
    purpose: Purpose
    filename: str
    bytes: int
    created_at: int  # unix seconds, as OpenAI's file objects carry it
    expires_at: int | None = None  # unix seconds after which the file is gone (OpenAI's expires_after); None: kept

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class FileStore(Protocol):
    """Every method takes the owner: a file is found only by its owner, so another tenant's id is a 404."""

    async def put(
        self,
        owner: str,
        purpose: Purpose,
        filename: str,
        chunks: AsyncIterable[bytes],
        expires_at: int | None = None,
    ) -> FileInfo:
        """Stores the chunks as they come (never all in memory); RequestTooLarge past MAX_FILE_BYTES, and nothing
        is kept of a file that did not arrive whole. From `expires_at` on the file is gone for every reader."""
        ...

    async def get(self, owner: str, file_id: str) -> FileInfo: ...

    async def list(
        self, owner: str, purpose: str | None, limit: int, after: str | None, order: ListOrder
    ) -> tuple[list[FileInfo], bool]:
        """A page of the owner's files by creation time (ties by id), after the file `after`; and whether more
        follow."""
        ...

    def content(self, owner: str, file_id: str) -> AsyncIterator[bytes]:
        """The file's bytes, CHUNK_BYTES at a time (call get first: a missing file fails before any byte)."""
        ...

    async def delete(self, owner: str, file_id: str) -> FileInfo: ...

    async def expire(self, now: float) -> int:
        """Removes every owner's files whose expiry has passed (readers stopped seeing them then); how many."""
        ...


def new_file_id() -> str:
    return "file-" + secrets.token_hex(12)


def valid_file_id(file_id: str) -> bool:
    return len(file_id) == 29 and file_id.startswith("file-") and all(c in "0123456789abcdef" for c in file_id[5:])


def no_such_file(file_id: str) -> NotFound:
    shown = file_id if valid_file_id(file_id) else "that id"
    return NotFound(f"No such File object: {shown}", param="file_id")


def too_large() -> RequestTooLarge:
    return RequestTooLarge(f"The file exceeds the maximum size of {MAX_FILE_BYTES} bytes (200 MB).", param="file")


def check_filename(filename: str) -> str:
    """A file name as shown back to its owner: 1 to 255 characters, no control characters (never a path here)."""
    if not filename or len(filename) > MAX_FILENAME or any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise InvalidRequest("The file's name must be 1 to 255 characters without control characters.", param="file")
    return filename


async def bounded(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The chunks gathered and cut into pieces of CHUNK_BYTES (the last one shorter), failing once more than
    MAX_FILE_BYTES came. Gathering matters: a batch's output arrives a line at a time, and the stores pay per piece
    (a database row and transaction, a thread hop for a disk write)."""
    size = 0
    held = bytearray()
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise too_large()
        held += chunk
        while len(held) >= CHUNK_BYTES:
            yield bytes(held[:CHUNK_BYTES])
            del held[:CHUNK_BYTES]
    if held:
        yield bytes(held)
