"""A bounded multipart/form-data upload (OpenAI's POST /v1/files), parsed by python-multipart through Starlette.

The body is counted as it arrives and refused past the limit (413); the file part is spooled to a temporary file
(Starlette keeps 1 MiB in memory, the rest on disk, mode 0600), so a 200 MB upload is never whole in memory; other
fields are small (64 KiB each, a few of them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from ..errors import InvalidRequest, RequestTooLarge

FIELD_BYTES = 64 * 1024
MAX_FIELDS = 8
OVERHEAD_BYTES = 1024 * 1024  # the multipart framing and the small fields around the file


@dataclass
class Upload:
    form: FormData

    def file(self, name: str) -> UploadFile:
        found = self.form.get(name)
        if not isinstance(found, UploadFile):
            raise InvalidRequest(f"The form must carry the file as its '{name}' part.", param=name)
        return found

    def field(self, name: str) -> str | None:
        found = self.form.get(name)
        if isinstance(found, UploadFile):
            raise InvalidRequest(f"'{name}' must be a form field, not a file.", param=name)
        return found

    async def aclose(self) -> None:
        await self.form.close()


async def read_upload(request: Request, file_limit: int) -> Upload:
    """The request's form, its file at most `file_limit` bytes (413 past it, before reading when declared)."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise InvalidRequest("Upload the file as multipart/form-data (the SDK's files.create does).")
    limit = file_limit + OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"The upload exceeds the maximum file size of {file_limit} bytes.", param="file")
    parser = MultiPartParser(
        request.headers, _bounded(request, limit, file_limit), max_files=1, max_fields=MAX_FIELDS,
        max_part_size=FIELD_BYTES,
    )  # fmt: skip
    try:
        return Upload(await parser.parse())
    except MultiPartException as exc:
        raise InvalidRequest(f"The multipart body is malformed: {exc.message}") from None
    except ClientDisconnect:
        raise InvalidRequest("the client closed the connection before sending the whole body") from None


async def _bounded(request: Request, limit: int, file_limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"The upload exceeds the maximum file size of {file_limit} bytes.", param="file")
        yield chunk


async def file_chunks(upload: UploadFile, chunk_bytes: int) -> AsyncIterator[bytes]:
    """The spooled file's bytes, read in a thread (they may be on disk)."""
    await asyncio.to_thread(upload.file.seek, 0)
    while chunk := await asyncio.to_thread(upload.file.read, chunk_bytes):
        yield chunk
