"""The OpenAI Chat Completions dialect: POST /v1/chat/completions, streaming and not. The wire format itself, both
directions, is wire/chat.py's; this module holds the route."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request

from ..canonical import fold_events
from ..errors import BasaltError
from ..flow import Call
from ..http.plumbing import CALL, EventStreamResponse, first_and_rest, read_body, request_id, unless_disconnected
from ..wire.chat import ChunkEncoder, decode_request, encode_completion, parse_chat_request
from .anthropic import json_response
from .calls import call_options
from .errors import openai_error
from .ratelimits import openai_headers

if TYPE_CHECKING:
    from ..wiring import Platform


def stream_error(exc: BasaltError) -> bytes:
    """A failure after the stream began: one last data line with the error body, as OpenAI's servers send it."""
    return b"data: " + orjson.dumps(openai_error(exc)) + b"\n\n"


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    limit = platform.settings.max_body_bytes
    control, flow = platform.control, platform.flow

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        principal = await control.authenticate(request.headers, "chat.completions")
        chat = parse_chat_request(await read_body(request, limit))
        options = call_options(request.headers)
        call = Call(principal, decode_request(chat), "chat.completions", request_id(request), options, "openai")
        request.scope[CALL] = call  # for the HTTP edge's access log and request metrics, once the response is sent
        events = await first_and_rest(await flow.answer(call))
        headers = openai_headers(call.ticket.limits) if call.ticket else {}
        if chat.stream:
            include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
            encoder = ChunkEncoder(chat.model, include_usage, logprobs=bool(chat.logprobs))
            return EventStreamResponse(events, encoder.encode, stream_error, headers)
        message = await unless_disconnected(request, fold_events(events))
        return json_response(encode_completion(message, chat.model), headers=headers)

    return router
