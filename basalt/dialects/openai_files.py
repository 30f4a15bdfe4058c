"""OpenAI Files, as `client.files` uses them: upload (multipart, purpose batch), list, retrieve, content, delete.

Files belong to the caller's project (`files.stores.owner_of`); another tenant's file id is a 404, never a 403, so
ids cannot be probed. The keys' scope for these routes is `batches`, as for every batch route: files here exist for
batches (whose items are then admitted under `chat.completions`, like single calls).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from starlette.responses import Response, StreamingResponse

from ..control.principal import Principal
from ..errors import InvalidRequest
from ..files import CHUNK_BYTES, MAX_FILE_BYTES, FileInfo, ListOrder, Purpose
from ..files.stores import owner_of
from ..files.types import check_filename
from ..http.uploads import file_chunks, read_upload
from .anthropic import json_response, list_body

if TYPE_CHECKING:
    from ..wiring import Platform

SCOPE = "batches"
MAX_LIST = 10_000  # OpenAI's own bound on files.list's limit
UPLOAD_PURPOSES = ("batch", "evals")
BATCH_FILE_SECONDS = 30 * 86400  # OpenAI's default: files of purpose batch expire 30 days after their upload


class ExpiresAfter(BaseModel):
    """OpenAI's expiry policy of a file (files.create's `expires_after`, batches.create's `output_expires_after`):
    `seconds` after the file's creation, from one hour to 30 days."""

    model_config = ConfigDict(extra="forbid")
    anchor: Literal["created_at"]
    seconds: StrictInt = Field(ge=3600, le=2_592_000)


def expires_after(anchor: str | None, seconds: str | None) -> int:
    """The seconds a multipart upload's `expires_after[anchor]` and `expires_after[seconds]` give (OpenAI's bounds),
    or OpenAI's default for a batch file when neither is given."""
    if anchor is None and seconds is None:
        return BATCH_FILE_SECONDS
    try:
        count = int(seconds) if seconds is not None and seconds.isdigit() and len(seconds) < 12 else seconds
        return ExpiresAfter.model_validate({"anchor": anchor, "seconds": count}).seconds
    except ValidationError:
        raise InvalidRequest(
            "expires_after: anchor must be 'created_at' and seconds an integer from 3600 (one hour) to 2592000 "
            "(30 days).",
            param="expires_after",
        ) from None


def file_object(info: FileInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "object": "file",
        "bytes": info.bytes,
        "created_at": info.created_at,
        "filename": info.filename,
        "purpose": info.purpose,
        "status": "processed",
        "expires_at": info.expires_at,
        "status_details": None,
    }


def list_limit(raw: str | None, default: int, most: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidRequest(f"limit must be an integer from 1 to {most}.", param="limit")
    return int(raw)


def cursor_id(raw: str | None, prefix: str) -> str | None:
    """A paging cursor: an id of the listed kind (anything else matches nothing, so it pages to an empty list)."""
    if raw is not None and (len(raw) > 100 or not raw.isascii()):
        raise InvalidRequest("after must be an object id.", param="after")
    return raw if raw is None or raw.startswith(prefix) else None


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    control, store = platform.control, platform.files

    async def caller(request: Request) -> Principal:
        return await control.authenticate(request.headers, SCOPE)

    @router.post("/v1/files")
    async def create_file(request: Request) -> Any:
        principal = await caller(request)
        upload = await read_upload(request, MAX_FILE_BYTES)
        try:
            purpose = upload.field("purpose")
            if purpose not in UPLOAD_PURPOSES:
                raise InvalidRequest(
                    f"purpose must be 'batch' or 'evals' (the files Basalt stores), not {purpose!r}.",
                    param="purpose",
                )
            anchor, after = upload.field("expires_after[anchor]"), upload.field("expires_after[seconds]")
            # OpenAI's default expiry is for batch files; an evals file without a policy is kept until deleted.
            seconds = None if purpose == "evals" and anchor is None and after is None else expires_after(anchor, after)
            part = upload.file("file")
            filename = check_filename(part.filename or "upload.jsonl")
            kept: Purpose = "evals" if purpose == "evals" else "batch"
            expires = None if seconds is None else int(time.time()) + seconds  # anchored at the creation: now
            info = await store.put(owner_of(principal), kept, filename, file_chunks(part, CHUNK_BYTES), expires)
        finally:
            await upload.aclose()
        return json_response(file_object(info))

    @router.get("/v1/files")
    async def list_files(request: Request) -> Any:
        principal = await caller(request)
        query = request.query_params
        given = query.get("order", "desc")
        if given not in ("asc", "desc"):
            raise InvalidRequest("order must be 'asc' or 'desc'.", param="order")
        order: ListOrder = "asc" if given == "asc" else "desc"
        purpose = query.get("purpose")
        if purpose is not None and len(purpose) > 40:
            raise InvalidRequest("purpose is not one Basalt stores.", param="purpose")
        limit = list_limit(query.get("limit"), MAX_LIST, MAX_LIST)
        after = cursor_id(query.get("after"), "file-")
        if query.get("after") is not None and after is None:
            found: list[FileInfo] = []
            more = False
        else:
            found, more = await store.list(owner_of(principal), purpose, limit, after, order)
        data = [file_object(f) for f in found]
        return json_response(list_body(data, more))

    @router.get("/v1/files/{file_id}")
    async def retrieve_file(request: Request, file_id: str) -> Any:
        principal = await caller(request)
        return json_response(file_object(await store.get(owner_of(principal), file_id)))

    @router.get("/v1/files/{file_id}/content")
    async def file_content(request: Request, file_id: str) -> Response:
        principal = await caller(request)
        owner = owner_of(principal)
        info = await store.get(owner, file_id)  # a missing file is a 404 before any byte is sent
        headers = {"content-length": str(info.bytes), "content-disposition": f'attachment; filename="{info.id}"'}
        return StreamingResponse(store.content(owner, file_id), media_type="application/octet-stream", headers=headers)

    @router.delete("/v1/files/{file_id}")
    async def delete_file(request: Request, file_id: str) -> Any:
        principal = await caller(request)
        info = await store.delete(owner_of(principal), file_id)
        return json_response({"id": info.id, "object": "file", "deleted": True})

    return router
