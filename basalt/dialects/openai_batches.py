"""OpenAI Batch, as `client.batches` uses it: create over an uploaded input file, retrieve, list, cancel.

The batch engine (basalt/batches/) runs the items; this dialect gives it two phase hooks that whichever worker
claims the batch runs, exactly once (batches/phases.py): `validating`, after the create call has returned, reads
the input file into items (or into OpenAI's validation errors: the batch is then `failed`, and no item runs); and
`finalizing`, once the items are done, writes the output and error files into the file store and records their ids
in the batch's extra fields. Statuses are derived from the engine's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from ..batches import BatchEngine
from ..batches.phases import Hooks, Validated
from ..batches.types import BatchInfo, ItemResult
from ..control.principal import Principal
from ..errors import InvalidRequest, NotFound
from ..files.stores import owner_of
from ..http.plumbing import read_body
from .anthropic import json_response, list_body
from .openai_batch_input import read_input
from .openai_batch_output import lines
from .openai_files import SCOPE, ExpiresAfter, cursor_id, list_limit

if TYPE_CHECKING:
    from ..files import FileStore
    from ..wiring import Platform

WINDOW_SECONDS = 86_400.0
BODY_BYTES = 64 * 1024
OUTPUT_FILES = ("output_file_id", "error_file_id")
EXPIRY_SECONDS = 60.0


class NewBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_file_id: StrictStr = Field(max_length=100)
    endpoint: Literal["/v1/chat/completions"]
    completion_window: Literal["24h"]
    metadata: dict[StrictStr, StrictStr] | None = None
    output_expires_after: ExpiresAfter | None = None


def check_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """OpenAI's bounds: 16 pairs, keys to 64 characters, values to 512."""
    metadata = metadata or {}
    if len(metadata) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in metadata.items()):
        raise InvalidRequest("metadata: at most 16 pairs, keys of 64 characters and values of 512.", param="metadata")
    return metadata


def status_of(info: BatchInfo) -> str:
    if info.extra.get("errors"):
        return "failed"
    if info.status in ("validating", "in_progress", "finalizing"):
        return info.status
    if info.status == "canceling":
        return "cancelling"
    if info.cancel_initiated_at is not None:
        return "cancelled"
    return "expired" if info.counts.expired else "completed"


def _at(value: float | None) -> int | None:
    return int(value) if value is not None else None


def batch_object(info: BatchInfo) -> dict[str, Any]:
    extra, counts, status = info.extra, info.counts, status_of(info)
    errors = extra.get("errors")
    finished = extra.get("completed_at", _at(info.ended_at))  # when the files were written (or it ended without)
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
        "in_progress_at": extra.get("in_progress_at"),
        "expires_at": int(info.expires_at),
        "finalizing_at": _at(info.ended_at) if status == "finalizing" or "completed_at" in extra else None,
        "completed_at": finished if status == "completed" else None,
        "failed_at": extra.get("failed_at", _at(info.ended_at)) if status == "failed" else None,
        "expired_at": finished if status == "expired" else None,
        "cancelling_at": _at(info.cancel_initiated_at),
        "cancelled_at": finished if status == "cancelled" else None,
        "request_counts": {"total": counts.total, "completed": counts.succeeded, "failed": counts.errored},
        "metadata": info.metadata or None,
    }


def hooks(
    files: FileStore,
    results: Callable[[str], AsyncIterator[ItemResult]],
    max_line: int,
    retention_seconds: float,
) -> Hooks:
    """The OpenAI kind's phases: read the input file into items (a line at most `max_line` bytes); write the output
    and error files from the batch's `results`, kept `retention_seconds` after the end unless the batch's
    `output_expires_after` says otherwise; remove them (a lost claim's, or a batch's at retention)."""

    async def validate(info: BatchInfo) -> Validated:
        owner, file_id = info.extra.get("files_owner", "local"), str(info.extra.get("input_file_id", ""))
        try:
            await files.get(owner, file_id)
        except NotFound:  # deleted between the create call and its validation
            gone = {"code": "invalid_file", "message": f"The input file {file_id} no longer exists.",
                    "param": "input_file_id", "line": None}  # fmt: skip
            return Validated(errors=[gone], extra={"failed_at": int(time.time())})
        read = await read_input(files.content(owner, file_id), str(info.extra.get("endpoint")), max_line)
        if read.errors:
            return Validated(errors=read.errors, extra={"failed_at": int(time.time())})
        return Validated(items=read.items, extra={"in_progress_at": int(time.time())})

    async def finalize(info: BatchInfo) -> dict[str, Any]:
        seconds = info.extra.get("output_expires_seconds")
        expires = int(time.time() + seconds) if seconds else int((info.ended_at or time.time()) + retention_seconds)
        return await _write_outputs(files, lambda: results(info.id), info, expires)

    async def discard(extra: dict[str, Any]) -> None:
        owner = extra.get("files_owner", "local")
        for name in OUTPUT_FILES:
            if extra.get(name):
                with contextlib.suppress(NotFound):  # expired, or deleted by its owner, already
                    await files.delete(owner, extra[name])

    next_expiry = 0.0

    async def sweep(now: float) -> None:
        """Expired files removed, once a minute at most (the local store reads each description to find them)."""
        nonlocal next_expiry
        if now >= next_expiry:
            next_expiry = now + EXPIRY_SECONDS
            await files.expire(now)

    return Hooks(validate=validate, finalize=finalize, discard=discard, sweep=sweep)


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    control, files, engine = platform.control, platform.files, platform.batches
    settings = platform.settings
    retention = settings.batches.retention_days * 86400
    engine.register("openai", hooks(files, engine.store.every_result, settings.max_body_bytes, retention))

    async def caller(request: Request) -> Principal:
        return await control.authenticate(request.headers, SCOPE)

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
        source = await files.get(owner, asked.input_file_id)  # a missing file is a 404 now, as OpenAI answers
        if source.purpose != "batch":
            raise InvalidRequest("The input file must be uploaded with purpose 'batch'.", param="input_file_id")
        extra: dict[str, Any] = {
            "input_file_id": source.id,
            "endpoint": asked.endpoint,
            "completion_window": asked.completion_window,
            "files_owner": owner,  # the output files' owner, whoever reads the batch later
        }
        if asked.output_expires_after is not None:
            extra["output_expires_seconds"] = asked.output_expires_after.seconds
        # Validating: a worker reads the file (50,000 lines take seconds) once this call has returned.
        info = await engine.submit(principal, "openai", [], metadata, extra, WINDOW_SECONDS, validating=True)
        return json_response(batch_object(info))

    @router.get("/v1/batches/{batch_id}")
    async def retrieve_batch(request: Request, batch_id: str) -> Any:
        principal = await caller(request)
        return json_response(batch_object(await _openai_batch(engine, principal, batch_id)))

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
        return json_response(list_body([batch_object(b) for b in found], more))

    @router.post("/v1/batches/{batch_id}/cancel")
    async def cancel_batch(request: Request, batch_id: str) -> Any:
        principal = await caller(request)
        info = await _openai_batch(engine, principal, batch_id)
        status = status_of(info)
        if status in ("failed", "finalizing", "completed", "expired"):
            raise InvalidRequest(f"Batch {batch_id} has ended ({status}); it cannot be cancelled.")
        return json_response(batch_object(await engine.cancel(principal, batch_id)))

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
    files: FileStore, results: Callable[[], AsyncIterator[ItemResult]], info: BatchInfo, expires_at: int
) -> dict[str, Any]:
    """Writes the output file (succeeded items) and the error file (the others), each only if it has a line, both
    expiring at `expires_at`; returns the extra fields naming them, and when they were done."""
    owner = info.extra.get("files_owner", "local")
    written: dict[str, Any] = {"output_file_id": None, "error_file_id": None}
    counts = info.counts
    try:
        if counts.succeeded:
            out = await files.put(
                owner, "batch_output", f"{info.id}_output.jsonl", lines(results, info.id, True), expires_at
            )
            written["output_file_id"] = out.id
        if counts.errored or counts.canceled or counts.expired:
            err = await files.put(
                owner, "batch_output", f"{info.id}_error.jsonl", lines(results, info.id, False), expires_at
            )
            written["error_file_id"] = err.id
    except BaseException:  # a half-done pair is nobody's: the next claim writes both again
        if written["output_file_id"]:
            await files.delete(owner, written["output_file_id"])
        raise
    written["completed_at"] = int(time.time())
    return written
