"""Reading an OpenAI batch input file: line numbers across chunk boundaries, blank lines, bounds."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from basalt.dialects import openai_batch_input
from basalt.dialects.openai_batch_input import ReadInput, read_input
from basalt.wire.chat_requests import DEFAULT_MAX_TOKENS

URL = "/v1/chat/completions"


def request(custom_id: str, **body: Any) -> bytes:
    messages = [{"role": "user", "content": "Hi"}]
    return orjson.dumps(
        {"custom_id": custom_id, "method": "POST", "url": URL, "body": {"model": "m", "messages": messages, **body}}
    )


def read(data: bytes, piece: int = 7, max_line: int = 10_000) -> ReadInput:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), piece):
            yield data[start : start + piece]

    return asyncio.run(read_input(chunks(), URL, max_line))


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_items_in_order_whatever_the_chunks(piece: int) -> None:
    data = request("a") + b"\n\n" + request("b", max_tokens=5) + b"\r\n  \n" + request("c")  # no final newline
    found = read(data, piece)
    assert found.errors == [] and found.lines == 3
    assert [i.custom_id for i in found.items] == ["a", "b", "c"]
    assert {i.endpoint for i in found.items} == {"chat.completions"}
    assert [i.request.max_tokens for i in found.items if i.request] == [DEFAULT_MAX_TOKENS, 5, DEFAULT_MAX_TOKENS]


def test_errors_carry_line_numbers_counting_blank_lines() -> None:
    data = b"\n".join([request("a"), b"", b"[1]", request("a"), request("b", n=3), request("c", temperature=9)])
    found = read(data)
    assert [(e["line"], e["code"]) for e in found.errors] == [
        (3, "invalid_json_line"),
        (4, "duplicate_custom_id"),
        (5, "invalid_request"),
        (6, "invalid_request"),
    ]
    assert all(e["message"] for e in found.errors)


def test_a_long_line_is_an_error_of_its_own_never_held_whole() -> None:
    data = request("a") + b"\n" + b"x" * 5000 + b"\n" + request("b") + b"\n" + b"y" * 5000
    found = read(data, piece=64, max_line=1000)
    assert [(e["line"], e["code"]) for e in found.errors] == [(2, "line_too_long"), (4, "line_too_long")]
    assert [i.custom_id for i in found.items] == ["a", "b"]


def test_empty_files_and_too_many_lines_fail_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [e["code"] for e in read(b"\n \n").errors] == ["empty_file"]
    monkeypatch.setattr(openai_batch_input, "MAX_LINES", 3)
    found = read(b"\n".join(request(str(i)) for i in range(5)))
    assert [(e["line"], e["code"]) for e in found.errors] == [(None, "too_many_requests")]
    assert "5 requests; at most 3" in found.errors[0]["message"]


def test_errors_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    found = read(b"\n".join(b"nope" for _ in range(500)))
    assert len(found.errors) == openai_batch_input.MAX_ERRORS and found.errors[-1]["line"] == 100


def test_requests_are_decoded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: set[int] = set()
    decode = openai_batch_input.decode_request

    def watched(req: Any) -> Any:
        threads.add(threading.get_ident())
        return decode(req)

    monkeypatch.setattr(openai_batch_input, "decode_request", watched)
    found = read(request("a") + b"\n" + request("b"), piece=4096)
    assert len(found.items) == 2 and threads and threading.get_ident() not in threads


def test_one_model_per_file_as_openai_requires() -> None:
    data = b"\n".join([request("a"), request("b", model="other"), request("c"), request("d", model="x")])
    found = read(data, 4096)
    assert [(e["line"], e["code"], e["param"]) for e in found.errors] == [
        (2, "mismatched_model", "body.model"),
        (4, "mismatched_model", "body.model"),
    ]
    assert "'other'" in found.errors[0]["message"] and "'m'" in found.errors[0]["message"]
    assert read(b"\n".join([request("a"), request("b")]), 4096).errors == []
