"""OpenAI Files, as `client.files` uses them: upload (multipart, purpose batch), list, retrieve, content, delete.

Files belong to the caller's project (`files.stores.owner_of`); another tenant's file id is a 404, never a 403, so
ids cannot be probed. The keys' scope for these routes is `batches`, as for every batch route: files here exist for
batches (whose items are then admitted under `chat.completions`, like single calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
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


def file_object(info: FileInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "object": "file",
        "bytes": info.bytes,
        "created_at": info.created_at,
        "filename": info.filename,
        "purpose": info.purpose,
        "status": "processed",
        "expires_at": None,
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
            if upload.field("expires_after[anchor]") is not None or upload.field("expires_after[seconds]"):
                raise InvalidRequest("expires_after is not supported: delete files when done.", param="expires_after")
            part = upload.file("file")
            filename = check_filename(part.filename or "upload.jsonl")
            kept: Purpose = "evals" if purpose == "evals" else "batch"
            info = await store.put(owner_of(principal), kept, filename, file_chunks(part, CHUNK_BYTES))
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
