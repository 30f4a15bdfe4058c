"""Anthropic Message Batches, as `client.messages.batches` uses them: create, retrieve, list, cancel, delete and
the results as JSON lines from `results_url`, over the batch engine.

What Anthropic checks when a batch is created is checked here (the envelope, at most 100,000 requests and 256 MB,
unique custom_ids of 1-64 letters, digits, `_` and `-`: a 400 naming the request's index); each request's `params`
is decoded as a single Messages call decodes it, and a bad one becomes that request's `errored` result with the same
message, as Anthropic reports params it validates later.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.responses import StreamingResponse

from ..batches import BatchInfo, ItemResult, NewItem
from ..canonical import MessagesRequest, parse_messages_request
from ..errors import BasaltError, InvalidRequest, NotFound
from ..http.plumbing import PRINCIPAL, read_body
from .anthropic import check_messages_request, json_response, orjson_loads_object

if TYPE_CHECKING:
    from ..control.principal import Principal
    from ..wiring import Platform

CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CHUNK_BYTES = 64 * 1024  # results go out in pieces of about this size


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    control = platform.control
    engine = platform.batches
    settings = platform.settings.batches

    async def caller(request: Request) -> Any:
        principal = request.scope[PRINCIPAL] = await control.authenticate(request.headers, "batches")
        return principal

    @router.post("/v1/messages/batches")
    async def create_batch(request: Request) -> Any:
        principal = await caller(request)
        raw = await read_body(request, settings.max_body_bytes)
        # Up to 256 MB and 100,000 requests to decode: off the event loop, which keeps serving meanwhile.
        items = await asyncio.to_thread(decode_body, raw, settings.max_requests)
        batch = await engine.submit(principal, "anthropic", items)
        return json_response(batch_object(batch, base_url(request)))

    @router.get("/v1/messages/batches")
    async def list_batches(
        request: Request, after_id: str | None = None, before_id: str | None = None, limit: int = 20
    ) -> Any:
        principal = await caller(request)
        found, more = await engine.list(principal, "anthropic", limit, after_id or None, before_id or None)
        data = [batch_object(b, base_url(request)) for b in found]
        return json_response(
            {
                "data": data,
                "has_more": more,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def mine(principal: Principal, batch_id: str) -> BatchInfo:
        """The caller's Message Batch: another tenant's, an OpenAI batch or an eval run's is not found here."""
        batch = await engine.get(principal, batch_id)
        if batch.kind != "anthropic":
            raise NotFound(f"No batch with id {batch_id!r}.")
        return batch

    @router.get("/v1/messages/batches/{batch_id}")
    async def retrieve_batch(request: Request, batch_id: str) -> Any:
        batch = await mine(await caller(request), batch_id)
        return json_response(batch_object(batch, base_url(request)))

    @router.post("/v1/messages/batches/{batch_id}/cancel")
    async def cancel_batch(request: Request, batch_id: str) -> Any:
        principal = await caller(request)
        await mine(principal, batch_id)
        batch = await engine.cancel(principal, batch_id)
        return json_response(batch_object(batch, base_url(request)))

    @router.delete("/v1/messages/batches/{batch_id}")
    async def delete_batch(request: Request, batch_id: str) -> Any:
        principal = await caller(request)
        await mine(principal, batch_id)
        await engine.delete(principal, batch_id)
        return json_response({"id": batch_id, "type": "message_batch_deleted"})

    @router.get("/v1/messages/batches/{batch_id}/results")
    async def batch_results(request: Request, batch_id: str) -> Response:
        principal = await caller(request)
        batch = await mine(principal, batch_id)
        if batch.status != "ended":
            raise InvalidRequest(
                f"Batch {batch_id} is still {batch.status}; its results are available once it has ended."
            )
        lines = engine.results(principal, batch_id)
        # The SDK asks for application/binary and reads the body as JSON lines, whatever the type.
        return StreamingResponse(jsonl(lines), media_type="application/binary")

    return router


def decode_body(raw: bytes, max_requests: int) -> list[NewItem]:
    return decode_batch(orjson_loads_object(raw), max_requests)


def decode_batch(body: dict[str, Any], max_requests: int) -> list[NewItem]:
    unknown = sorted(set(body) - {"requests"})
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: Extra inputs are not permitted", param=unknown[0])
    requests = body.get("requests")
    if not isinstance(requests, list):
        raise InvalidRequest("requests: Input should be a valid list", param="requests")
    if not 1 <= len(requests) <= max_requests:
        raise InvalidRequest(
            f"requests: a batch holds from 1 to {max_requests} requests; got {len(requests)}", param="requests"
        )
    seen: dict[str, int] = {}
    items = []
    for index, entry in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(entry, dict):
            raise InvalidRequest(f"{where}: Input should be a valid dictionary", param=where)
        extra = sorted(set(entry) - {"custom_id", "params"})
        if extra:
            raise InvalidRequest(f"{where}.{extra[0]}: Extra inputs are not permitted", param=f"{where}.{extra[0]}")
        custom_id = entry.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
            raise InvalidRequest(
                f"{where}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'", param=f"{where}.custom_id"
            )
        if custom_id in seen:
            raise InvalidRequest(
                f"{where}.custom_id: {custom_id!r} is used by requests.{seen[custom_id]} too; custom_id values must "
                "be unique within a batch.",
                param=f"{where}.custom_id",
            )
        seen[custom_id] = index
        if "params" not in entry:
            raise InvalidRequest(f"{where}.params: Field required", param=f"{where}.params")
        request, error = decode_params(entry["params"])
        items.append(NewItem(custom_id, "messages", request, error))
    return items


def decode_params(params: Any) -> tuple[MessagesRequest | None, BasaltError | None]:
    """The request a single Messages call with this body would make, or the error that call would get."""
    if not isinstance(params, dict):
        return None, InvalidRequest("params: Input should be a valid dictionary", param="params")
    try:
        return check_messages_request(parse_messages_request(params)), None
    except BasaltError as exc:
        return None, exc


def batch_object(batch: BatchInfo, base: str) -> dict[str, Any]:
    counts = batch.counts
    ended = batch.status == "ended"
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": batch.status,
        "request_counts": {
            "processing": counts.processing,
            "succeeded": counts.succeeded,
            "errored": counts.errored,
            "canceled": counts.canceled,
            "expired": counts.expired,
        },
        "ended_at": rfc3339(batch.ended_at),
        "created_at": rfc3339(batch.created_at),
        "expires_at": rfc3339(batch.expires_at),
        "archived_at": rfc3339(batch.archived_at),
        "cancel_initiated_at": rfc3339(batch.cancel_initiated_at),
        "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if ended else None,
    }


def result_line(item: ItemResult) -> dict[str, Any]:
    result: dict[str, Any] = {"type": item.status}
    if item.status == "succeeded":
        result["message"] = item.message
    elif item.status == "errored":
        error = item.error or {}
        result["error"] = {
            "type": "error",
            "error": {"type": error.get("type", "api_error"), "message": error.get("message", "")},
            "request_id": item.request_id,
        }
    return {"custom_id": item.custom_id, "result": result}


async def jsonl(items: AsyncIterator[ItemResult]) -> AsyncIterator[bytes]:
    buffer = bytearray()
    async for item in items:
        buffer += orjson.dumps(result_line(item)) + b"\n"
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def rfc3339(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
