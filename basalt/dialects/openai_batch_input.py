"""An OpenAI Batch input file, read line by line into the engine's items, or into OpenAI's validation errors.

Each line is `{custom_id, method: "POST", url, body}`; the url must be the batch's endpoint and the body a valid
request of it (the same decoding, and so the same messages, as a single call gets). Like OpenAI, a file with any bad
line fails as a whole: the batch is `failed` and its `errors` name each bad line (1-based), the first MAX_ERRORS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..batches.types import NewItem
from ..errors import BasaltError
from ..wire.chat import decode_request, parse_chat_request

MAX_LINES = 50_000  # OpenAI's limit on a batch's requests
MAX_ERRORS = 100
MAX_CUSTOM_ID = 512
# The endpoints a batch may name, with the scope its items are admitted under and the body decoder.
ENDPOINTS = {"/v1/chat/completions": "chat.completions"}


@dataclass
class ReadInput:
    items: list[NewItem] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0

    def fail(self, line: int | None, code: str, message: str, param: str | None = None) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"code": code, "message": message, "param": param, "line": line})


async def read_input(chunks: AsyncIterator[bytes], endpoint: str, max_line: int) -> ReadInput:
    """The file's items, or (with `errors` non-empty) why it cannot run. A line longer than `max_line` bytes (the
    single-call body limit) is an error of its own; it is never held whole, so a file that is one long line costs
    no more memory than that limit. Decoding 50,000 requests takes seconds of CPU, so each chunk is read on a
    worker thread, never on the event loop that serves interactive calls."""
    reader = _Reader(endpoint, max_line)
    async for chunk in chunks:
        await asyncio.to_thread(reader.feed, chunk)
    return await asyncio.to_thread(reader.finish)  # the last line may be a request too


class _Reader:
    def __init__(self, endpoint: str, max_line: int) -> None:
        self.endpoint, self.max_line = endpoint, max_line
        self.read = ReadInput()
        self.seen: set[str] = set()
        self.model: str | None = None  # OpenAI runs a batch on one model: the first line's
        self.pending: list[bytes] = []  # the line begun in earlier chunks
        self.size = self.number = 0
        self.too_long = False

    def feed(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            self.number += 1
            piece = chunk[start:end]
            if self.too_long or self.size + len(piece) > self.max_line:
                _too_long(self.read, self.number, self.max_line)
            else:
                self._line(self.number, b"".join([*self.pending, piece]))
            self.pending, self.size, self.too_long, start = [], 0, False, end + 1
        tail = chunk[start:]
        if not self.too_long and self.size + len(tail) > self.max_line:
            self.pending, self.size, self.too_long = [], 0, True
        elif not self.too_long:
            self.pending.append(tail)
            self.size += len(tail)

    def finish(self) -> ReadInput:
        read = self.read
        if self.too_long:
            _too_long(read, self.number + 1, self.max_line)
        elif self.size:
            self._line(self.number + 1, b"".join(self.pending))
        if not read.lines and not read.errors:
            read.fail(None, "empty_file", "The input file has no requests.")
        if read.lines > MAX_LINES:
            message = f"The input file has {read.lines} requests; at most {MAX_LINES} are allowed."
            read.fail(None, "too_many_requests", message)
        return read

    def _line(self, number: int, raw: bytes) -> None:
        item = _line(self.read, self.seen, number, raw, self.endpoint)
        if item is None or item.request is None:
            return
        model = item.request.model
        if self.model is None:
            self.model = model
        elif model != self.model:
            message = (f"Each batch must contain requests for a single model: line {number} asks for {model!r}, "
                       f"the lines before it for {self.model!r}.")  # fmt: skip
            self.read.fail(number, "mismatched_model", message, "body.model")
            return
        self.read.items.append(item)


def _too_long(read: ReadInput, number: int, max_line: int) -> None:
    read.lines += 1
    read.fail(number, "line_too_long", f"Line {number} is longer than {max_line} bytes, the limit of one request.")


def _line(read: ReadInput, seen: set[str], number: int, raw: bytes, endpoint: str) -> NewItem | None:
    """The line's item, or None (a blank line; or a bad one, recorded in `read.errors`)."""
    if not raw.strip():
        return None  # blank lines (a trailing newline's, say) are no request
    read.lines += 1
    if read.lines > MAX_LINES:
        return None
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        read.fail(number, "invalid_json_line", f"Line {number} is not valid JSON.")
        return None
    if not isinstance(line, dict):
        read.fail(number, "invalid_json_line", f"Line {number} must be a JSON object.")
        return None
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        read.fail(number, "invalid_custom_id", f"custom_id must be a string of 1 to {MAX_CUSTOM_ID} characters.",
                  "custom_id")  # fmt: skip
        return None
    if custom_id in seen:
        read.fail(number, "duplicate_custom_id", f"The custom_id {custom_id!r} is used by more than one request.",
                  "custom_id")  # fmt: skip
        return None
    seen.add(custom_id)
    if line.get("method") != "POST":
        read.fail(number, "invalid_method", "method must be 'POST'.", "method")
        return None
    if line.get("url") != endpoint:
        read.fail(number, "invalid_url", f"url must be the batch's endpoint, {endpoint}.", "url")
        return None
    body = line.get("body")
    if not isinstance(body, dict):
        read.fail(number, "invalid_request", "body must be a JSON object: the request.", "body")
        return None
    try:
        request = decode_request(parse_chat_request(orjson.dumps(body)))
    except BasaltError as exc:
        read.fail(number, "invalid_request", exc.message, f"body.{exc.param}" if exc.param else "body")
        return None
    return NewItem(custom_id, ENDPOINTS[endpoint], request)
