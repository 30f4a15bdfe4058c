"""The Anthropic Messages dialect: POST /v1/messages, /v1/messages/count_tokens, and the model listing."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request, Response

from ..canonical import Forwarded, MessagesRequest, fold_events, parse_messages_request
from ..errors import InvalidRequest
from ..flow import Call
from ..http.plumbing import (
    CALL,
    PRINCIPAL,
    EventStreamResponse,
    first_and_rest,
    read_body,
    request_id,
    unless_disconnected,
)
from ..providers.base import Event, ModelInfo
from .calls import call_options
from .errors import anthropic_error
from .ratelimits import anthropic_headers

if TYPE_CHECKING:
    from ..wiring import Platform


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A page of a listing, in the shape both SDKs read (models, files, batches)."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def sse(event: Event) -> bytes:
    name: str = event["type"]
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


# What may travel on to an upstream's request line and headers as the client sent it: printable ASCII.
_QUERY = re.compile(r"[!-~]*")
_HEADER_VALUE = re.compile(r"[\t -~]*")

PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def sse_chunk(event: Event) -> bytes:
    """One event of a streamed answer; the message's start is followed by a ping, as Anthropic's API does."""
    data = sse(event)
    return data + PING if event["type"] == "message_start" else data


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    limit = platform.settings.max_body_bytes
    control = platform.control
    flow = platform.flow

    async def decode(request: Request) -> MessagesRequest:
        raw = await read_body(request, limit)
        return check_messages_request(parse_messages_request(raw).forward(forwarded(request, raw)))

    @router.post("/v1/messages")
    async def create_message(request: Request) -> Any:
        principal = await control.authenticate(request.headers, "messages")
        body = await decode(request)
        rid = request_id(request)
        call = Call(principal, body, "messages", rid, call_options(request.headers))
        request.scope[CALL] = call  # for the HTTP edge's access log and request metrics, once the response is sent
        events = await first_and_rest(await flow.answer(call))
        headers = anthropic_headers(call.ticket.limits) if call.ticket else {}
        if body.stream:
            return EventStreamResponse(events, sse_chunk, lambda exc: sse(anthropic_error(exc, rid)), headers)
        return json_response(await unless_disconnected(request, fold_events(events)), headers=headers)

    @router.post("/v1/messages/count_tokens")
    async def count_tokens(request: Request) -> Any:
        principal = await control.authenticate(request.headers, "count_tokens")
        raw = await read_body(request, limit)
        data = orjson_loads_object(raw)
        data.setdefault("max_tokens", 1)  # count_tokens takes a messages body without max_tokens
        body = parse_messages_request(data).forward(forwarded(request, raw))
        call = Call(principal, body, "count_tokens", request_id(request))
        request.scope[CALL] = call
        return json_response({"input_tokens": await flow.count_tokens(call)})

    @router.get("/v1/models")
    async def list_models(
        request: Request, after_id: str | None = None, before_id: str | None = None, limit: int = 20
    ) -> Any:
        request.scope[PRINCIPAL] = await control.authenticate(request.headers, "models")
        return json_response(list_page(platform.catalog.models(), after_id, before_id, limit))

    @router.get("/v1/models/{model_id:path}")
    async def get_model(request: Request, model_id: str) -> Any:
        request.scope[PRINCIPAL] = await control.authenticate(request.headers, "models")
        _, _, info = platform.catalog.resolve(model_id)
        return json_response(model_object(info))

    return router


def check_messages_request(body: MessagesRequest) -> MessagesRequest:
    """What Anthropic's Messages API checks beyond the canonical bounds (a batch's params get the same checks)."""
    if body.temperature is not None and body.temperature > 1.0:
        raise InvalidRequest("temperature: Input should be less than or equal to 1", param="temperature")
    return body


def forwarded(request: Request, raw: bytes) -> Forwarded:
    """The client's body, query and anthropic-* headers, for an Anthropic-protocol upstream to receive unchanged."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    if query and not _QUERY.fullmatch(query):
        raise InvalidRequest(f"query string: only printable ASCII without spaces is allowed, got {query[:100]!r}")
    betas: list[str] = []
    headers: list[tuple[str, str]] = []
    for raw_name, raw_value in request.scope["headers"]:
        if not raw_name.startswith(b"anthropic-"):
            continue
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if not _HEADER_VALUE.fullmatch(value):
            raise InvalidRequest(f"{name}: a header value must be printable ASCII", param=name)
        if name == "anthropic-beta":
            betas += (b.strip() for b in value.split(",") if b.strip())
        else:
            headers.append((name, value))
    return Forwarded(raw, query, tuple(headers), tuple(betas))


def orjson_loads_object(
    raw: bytes, invalid: str = "There was an error parsing the body of your request"
) -> dict[str, Any]:
    """The body as a JSON object, or a 400 (`invalid`: the dialect's wording for a body that is not JSON)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"{invalid}: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return value


def model_object(info: ModelInfo) -> dict[str, Any]:
    """A model in both dialects' shapes at once, since both SDKs call GET /v1/models."""
    created = int(datetime.fromisoformat(info.created_at.replace("Z", "+00:00")).timestamp())
    return {
        "type": "model",
        "id": info.id,
        "display_name": info.display_name,
        "created_at": info.created_at,
        "object": "model",
        "created": created,
        "owned_by": info.owned_by,
    }


def list_page(models: list[ModelInfo], after_id: str | None, before_id: str | None, limit: int) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit: Input should be between 1 and 1000", param="limit")
    after_id, before_id = after_id or None, before_id or None  # an empty cursor (`?after_id=`) is no cursor
    ids = [m.id for m in models]
    start, end = 0, len(models)
    if after_id is not None:
        if after_id not in ids:
            raise InvalidRequest(f"after_id: unknown model {after_id!r}", param="after_id")
        start = ids.index(after_id) + 1
    if before_id is not None:
        if before_id not in ids:
            raise InvalidRequest(f"before_id: unknown model {before_id!r}", param="before_id")
        end = ids.index(before_id)
        start = max(start, end - limit) if after_id is None else start
    page = models[start:end][:limit]
    has_more = (start + len(page) < end) if before_id is None else start > 0
    data = [model_object(m) for m in page]
    return list_body(data, has_more)
