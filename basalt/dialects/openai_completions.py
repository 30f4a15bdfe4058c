"""The legacy OpenAI Completions dialect: POST /v1/completions, streaming and not. The wire format is
wire/completions.py's; this module holds the route. Each prompt of a request is a call of its own through the flow
(admitted, guarded and metered as any), run together; a streamed request takes one prompt."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from ..canonical import fold_events
from ..flow import Call
from ..http.plumbing import CALL, EventStreamResponse, first_and_rest, read_body, request_id, unless_disconnected
from ..wire.completions import (
    ChunkEncoder,
    CompletionRequest,
    decode_request,
    encode_choice,
    encode_completion,
    parse_completion_request,
    prompts,
)
from .anthropic import json_response
from .calls import call_options
from .openai import stream_error
from .ratelimits import openai_headers

if TYPE_CHECKING:
    from ..flow import Flow
    from ..wiring import Platform


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    limit = platform.settings.max_body_bytes
    control, flow = platform.control, platform.flow

    @router.post("/v1/completions")
    async def completions(request: Request) -> Any:
        principal = await control.authenticate(request.headers, "completions")
        body = parse_completion_request(await read_body(request, limit))
        options = call_options(request.headers)
        rid = request_id(request)
        calls = [
            Call(principal, decode_request(body, prompt), "completions", rid, options, "openai")
            for prompt in prompts(body)
        ]
        request.scope[CALL] = calls[0]  # the access log and request metrics see the first prompt's call
        if body.stream:
            events = await first_and_rest(await flow.answer(calls[0]))
            headers = openai_headers(calls[0].ticket.limits) if calls[0].ticket else {}
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            encoder = ChunkEncoder(body.model, bool(body.echo), body.logprobs is not None, include_usage)
            return EventStreamResponse(events, encoder.encode, stream_error, headers)
        messages = await unless_disconnected(request, _answer_all(flow, calls))
        choices = [encode_choice(m, i, bool(body.echo), body.logprobs is not None) for i, m in enumerate(messages)]
        headers = openai_headers(calls[-1].ticket.limits) if calls[-1].ticket else {}
        return json_response(encode_completion(choices, messages, body.model), headers=headers)

    return router


async def _answer_all(flow: Flow, calls: list[Call]) -> list[dict[str, Any]]:
    """Every prompt's folded answer, in order; the first failure cancels the rest and is the request's error."""
    if len(calls) == 1:
        return [await fold_events(await flow.answer(calls[0]))]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_answer(flow, call)) for call in calls]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _answer(flow: Flow, call: Call) -> dict[str, Any]:
    return await fold_events(await flow.answer(call))


__all__ = ["CompletionRequest", "build_router"]
