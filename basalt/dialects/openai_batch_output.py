"""An ended OpenAI batch's output and error files: one JSON line per item, in the order of the input.

Succeeded items go to the output file as `{id, custom_id, response: {status_code: 200, request_id, body:
<chat.completion>}, error: null}`; errored ones to the error file with the status and OpenAI-shaped error body a
single call would have answered; canceled and expired ones to the error file with `response: null` and OpenAI's
`batch_cancelled` / `batch_expired` error codes.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from ..batches.types import ItemResult
from ..wire.chat import encode_completion
from .errors import OPENAI_TYPES

NOT_RUN = {
    "canceled": ("batch_cancelled", "The batch was cancelled before this request ran."),
    "expired": ("batch_expired", "This request could not be executed before the completion window expired."),
}


def request_line_id(batch_id: str, position: int) -> str:
    """The line's id, the same every time the file is written (a replica may write it again)."""
    return "batch_req_" + hashlib.sha256(f"{batch_id}:{position}".encode()).hexdigest()[:24]


def line_of(result: ItemResult, batch_id: str) -> dict[str, Any]:
    line: dict[str, Any] = {"id": request_line_id(batch_id, result.position), "custom_id": result.custom_id}
    if result.status == "succeeded" and result.message is not None:
        body = encode_completion(result.message, str(result.message.get("model", "")))
        return {**line, "response": {"status_code": 200, "request_id": result.request_id, "body": body}, "error": None}
    if result.status in NOT_RUN:
        code, message = NOT_RUN[result.status]
        return {**line, "response": None, "error": {"code": code, "message": message}}
    error = result.error or {}
    kind, error_code = OPENAI_TYPES.get(str(error.get("type")), ("server_error", None))
    status = int(error.get("status") or 500)
    body = {"error": {"message": str(error.get("message", "")), "type": kind, "param": None, "code": error_code}}
    response = {"status_code": 503 if status == 529 else status, "request_id": result.request_id, "body": body}
    return {**line, "response": response, "error": None}


async def lines(
    results: Callable[[], AsyncIterator[ItemResult]], batch_id: str, succeeded: bool
) -> AsyncIterator[bytes]:
    """The output file's lines (succeeded) or the error file's (the others), from a fresh pass over the results,
    so neither file is ever whole in memory."""
    async for result in results():
        if (result.status == "succeeded" and result.message is not None) == succeeded:
            yield orjson.dumps(line_of(result, batch_id)) + b"\n"
