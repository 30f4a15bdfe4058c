"""OpenAI Batch, as `client.batches` uses it: create over an uploaded input file, retrieve, list, cancel.

The batch engine (basalt/batches/) runs the items; this dialect reads the input file into items (or OpenAI's
validation errors: the batch is then `failed`, and no item runs), derives OpenAI's statuses from the engine's, and
once a batch has ended writes its output and error files into the file store (lazily, on the first read after the
end: the engine needs no hook, and every replica can do it), recording their ids in the batch's extra fields.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from ..batches import BatchEngine
from ..batches.types import BatchInfo, ItemResult
from ..control.principal import Principal
from ..errors import InvalidRequest, NotFound
from ..files.stores import owner_of
from ..http.plumbing import read_body
from .anthropic import json_response, list_body
from .openai_batch_input import read_input
from .openai_batch_output import lines
from .openai_files import SCOPE, cursor_id, list_limit

if TYPE_CHECKING:
    from ..files import FileStore
    from ..wiring import Platform

WINDOW_SECONDS = 86_400.0
BODY_BYTES = 64 * 1024


class NewBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_file_id: StrictStr = Field(max_length=100)
    endpoint: Literal["/v1/chat/completions"]
    completion_window: Literal["24h"]
    metadata: dict[StrictStr, StrictStr] | None = None


def check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """OpenAI's bounds: 16 pairs, keys to 64 characters, values to 512."""
    metadata = metadata or {}
    if len(metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in metadata.items()):
        raise InvalidRequest("metadata: at most 16 pairs, keys of 64 characters and values of 512.", param="metadata")
    return metadata


def status_of(info: BatchInfo) -> str:
    extra = info.extra
    if extra.get("errors"):
        return "failed"
    if info.status == "in_progress":
        return "in_progress"
    if info.status == "canceling":
        return "cancelling"
    if info.cancel_initiated_at is not None:
        return "cancelled"
    if info.counts.expired:
        return "expired"
    return "completed" if "output_file_id" in extra else "finalizing"


def _at(value: float | None) -> int | None:
    return int(value) if value is not None else None


def batch_object(info: BatchInfo) -> dict[str, Any]:
    extra, counts, status = info.extra, info.counts, status_of(info)
    ended = _at(info.ended_at)
    errors = extra.get("errors")
    return {
        "id": info.id,
        "object": "batch",
        "endpoint": extra.get("endpoint", "/v1/chat/completions"),
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": extra.get("input_file_id", ""),
        "completion_window": extra.get("completion_window", "24h"),
        "status": status,
        "output_file_id": extra.get("output_file_id"),
        "error_file_id": extra.get("error_file_id"),
        "created_at": int(info.created_at),
        "in_progress_at": None if errors else int(info.created_at),
        "expires_at": int(info.expires_at),
        "finalizing_at": extra.get("finalizing_at"),
        "completed_at": extra.get("completed_at") if status == "completed" else None,
        "failed_at": int(info.created_at) if status == "failed" else None,
        "expired_at": ended if status == "expired" else None,
        "cancelling_at": _at(info.cancel_initiated_at),
        "cancelled_at": ended if status == "cancelled" else None,
        "request_counts": {"total": counts.total, "completed": counts.succeeded, "failed": counts.errored},
        "metadata": info.metadata or None,
    }


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    control, files, engine = platform.control, platform.files, platform.batches
    finishing: dict[str, asyncio.Lock] = {}  # one writer of a batch's output files per process

    async def caller(request: Request) -> Principal:
        return await control.authenticate(request.headers, SCOPE)

    async def finished(principal: Principal, info: BatchInfo) -> BatchInfo:
        """The batch, its output and error files written first if it has ended without them."""
        if info.status != "ended" or "output_file_id" in info.extra or info.extra.get("errors"):
            return info
        lock = finishing.setdefault(info.id, asyncio.Lock())
        async with lock:
            info = await engine.get(principal, info.id)
            if "output_file_id" not in info.extra:
                extra = await _write_outputs(files, lambda: engine.results(principal, info.id), info)
                await engine.set_extra(info.id, extra)
                info = await engine.get(principal, info.id)
        finishing.pop(info.id, None)
        return info

    @router.post("/v1/batches")
    async def create_batch(request: Request) -> Any:
        principal = await caller(request)
        try:
            asked = NewBatch.model_validate_json(await read_body(request, BODY_BYTES))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InvalidRequest(problems) from None
        metadata = check_metadata(asked.metadata)
        owner = owner_of(principal)
        source = await files.get(owner, asked.input_file_id)
        if source.purpose != "batch":
            raise InvalidRequest("The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        limit = platform.settings.max_body_bytes
        read = await read_input(files.content(owner, source.id), asked.endpoint, limit)
        extra: dict[str, Any] = {
            "input_file_id": source.id,
            "endpoint": asked.endpoint,
            "completion_window": asked.completion_window,
            "files_owner": owner,  # the output files' owner, whoever reads the batch later
        }
        if read.errors:
            extra["errors"] = read.errors
        items = [] if read.errors else read.items
        info = await engine.submit(principal, "openai", items, metadata, extra, WINDOW_SECONDS)
        return json_response(batch_object(info))

    @router.get("/v1/batches/{batch_id}")
    async def retrieve_batch(request: Request, batch_id: str) -> Any:
        principal = await caller(request)
        info = await _openai_batch(engine, principal, batch_id)
        return json_response(batch_object(await finished(principal, info)))

    @router.get("/v1/batches")
    async def list_batches(request: Request) -> Any:
        principal = await caller(request)
        query = request.query_params
        limit = list_limit(query.get("limit"), 20, 100)
        after = cursor_id(query.get("after"), "batch_")
        found: list[BatchInfo] = []
        more = False
        if query.get("after") is None or after is not None:
            found, more = await engine.list(principal, "openai", limit, after_id=after)
        data = [batch_object(await finished(principal, b)) for b in found]
        return json_response(list_body(data, more))

    @router.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(request: Request, batch_id: str) -> Any:
        principal = await caller(request)
        info = await _openai_batch(engine, principal, batch_id)
        if info.extra.get("errors") or (info.status == "ended" and info.cancel_initiated_at is None):
            raise InvalidRequest(f"Batch {batch_id} has ended ({status_of(info)}); it cannot be cancelled.")
        info = await engine.cancel(principal, batch_id)
        return json_response(batch_object(await finished(principal, info)))

    return router


async def _openai_batch(engine: BatchEngine, principal: Principal, batch_id: str) -> BatchInfo:
    """The caller's OpenAI batch (an Anthropic one, or another tenant's, is not found)."""
    if not batch_id.startswith("batch_") or len(batch_id) > 64:
        raise NotFound(f"No batch found with id '{batch_id[:64]}'.", param="batch_id")
    try:
        info = await engine.get(principal, batch_id)
    except NotFound:
        raise NotFound(f"No batch found with id '{batch_id}'.", param="batch_id") from None
    if info.kind != "openai":
        raise NotFound(f"No batch found with id '{batch_id}'.", param="batch_id")
    return info


async def _write_outputs(
    files: FileStore, results: Callable[[], AsyncIterator[ItemResult]], info: BatchInfo
) -> dict[str, Any]:
    """Writes the output file (succeeded items) and the error file (the others), each only if it has a line, and
    returns the batch's extra fields with their ids and the finalizing and completion times."""
    owner = info.extra.get("files_owner", "local")
    extra: dict[str, Any] = {**info.extra, "finalizing_at": int(time.time()), "output_file_id": None}
    counts = info.counts
    if counts.succeeded:
        out = await files.put(owner, "batch_output", f"{info.id}_output.jsonl", lines(results, info.id, True))
        extra["output_file_id"] = out.id
    if counts.errored or counts.canceled or counts.expired:
        err = await files.put(owner, "batch_output", f"{info.id}_error.jsonl", lines(results, info.id, False))
        extra["error_file_id"] = err.id
    extra["completed_at"] = int(time.time())
    return extra
