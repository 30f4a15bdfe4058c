"""Bad input gets the right status and error type in the caller's dialect, and the server keeps serving."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from .conftest import Server

GOOD = {"model": "smollm2", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}


def post(server: Server, path: str, body: bytes | dict[str, Any], **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    headers = {"content-type": "application/json", **headers}  # raw bytes are sent as JSON too
    return httpx.post(
        server.url + path, content=content, json=None if content is not None else body, headers=headers, timeout=60
    )


def assert_anthropic_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["error"]["message"]
    assert response.headers["request-id"] == body["request_id"]
    return body


def assert_openai_error(response: httpx.Response, status: int, kind: str = "invalid_request_error") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == kind and body["error"]["message"]
    assert response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"model": "smollm2", "max_tokens": 3, "messages": [', "parsing"),
        (b"[1, 2]", "object"),
        ({k: v for k, v in GOOD.items() if k != "max_tokens"}, "max_tokens"),
        ({**GOOD, "max_tokens": "ten"}, "max_tokens"),
        ({**GOOD, "max_tokens": 0}, "max_tokens"),
        ({**GOOD, "messages": "hello"}, "messages"),
        ({**GOOD, "messages": [{"role": "robot", "content": "Hi"}]}, "messages.0.role"),
        ({**GOOD, "messages": [{"role": "user"}]}, "messages.0.content"),
        ({**GOOD, "messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]}, "messages.0.content"),
        ({**GOOD, "temperature": 1.5}, "temperature"),
        ({**GOOD, "stream": "yes"}, "stream"),
        ({**GOOD, "frobnicate": True}, "frobnicate"),
        ({**GOOD, "tool_choice": {"type": "tool", "name": "missing"}}, "tool"),
        (
            {**GOOD, "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hi "}]},
            "whitespace",
        ),
    ],
)
def test_anthropic_bad_requests(server: Server, body: bytes | dict[str, Any], needle: str) -> None:
    error = assert_anthropic_error(post(server, "/v1/messages", body), 400, "invalid_request_error")
    assert needle in error["error"]["message"]


def test_unknown_model_is_404_in_both_dialects(server: Server) -> None:
    with pytest.raises(anthropic.NotFoundError) as a:
        server.anthropic().messages.create(model="no-such-model", max_tokens=3, messages=GOOD["messages"])
    assert a.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "no-such-model" in a.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as o:
        server.openai().chat.completions.create(model="no-such-model", messages=GOOD["messages"])  # type: ignore[arg-type]
    assert o.value.code == "model_not_found"
    with pytest.raises(anthropic.NotFoundError):
        server.anthropic().models.retrieve("no-such-model")
    assert_anthropic_error(post(server, "/v1/messages/count_tokens", {**GOOD, "model": "nope"}), 404, "not_found_error")


def test_oversized_body_is_413(server: Server) -> None:
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * (33 * 1024 * 1024)}]}
    assert_anthropic_error(post(server, "/v1/messages", big), 413, "request_too_large")
    body = assert_openai_error(post(server, "/v1/chat/completions", big), 413)
    assert body["error"]["code"] == "request_too_large"


def test_over_long_prompt_is_refused_in_both_dialects(server: Server) -> None:
    long_text = "The quick brown fox jumps over the lazy dog. " * 300  # ~3,000 tokens > the 2,048 window
    messages = [{"role": "user", "content": long_text}]
    with pytest.raises(anthropic.BadRequestError) as a:
        server.anthropic().messages.create(model="smollm2", max_tokens=3, messages=messages)  # type: ignore[arg-type]
    assert "prompt is too long" in a.value.body["error"]["message"]  # type: ignore[index]
    stream = server.anthropic().messages.stream(model="smollm2", max_tokens=3, messages=messages)  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError), stream as s:
        s.get_final_message()
    with pytest.raises(openai.BadRequestError) as o:
        server.openai().chat.completions.create(model="smollm2", messages=messages, stream=True)  # type: ignore[arg-type]
    assert "prompt is too long" in o.value.message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "JSON"),
        ({"model": "smollm2"}, "messages"),
        ({"model": "smollm2", "messages": [{"role": "wizard", "content": "Hi"}]}, "messages.0.role"),
        ({"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": "3"}, "max_tokens"),
        ({"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "top_logprobs": 2}, "top_logprobs"),
        ({"model": "smollm2", "messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
    ],
)
def test_openai_bad_requests(server: Server, body: bytes | dict[str, Any], needle: str) -> None:
    error = assert_openai_error(post(server, "/v1/chat/completions", body), 400)
    assert needle in error["error"]["message"]


def test_auth_headers_of_either_kind_are_accepted(server: Server) -> None:
    assert post(server, "/v1/messages", GOOD, **{"x-api-key": "k"}).status_code == 200
    assert post(server, "/v1/messages", GOOD, authorization="Bearer k").status_code == 200


def test_unknown_route_and_method(server: Server) -> None:
    assert_anthropic_error(httpx.get(server.url + "/v1/nothing-here"), 404, "not_found_error")
    assert httpx.get(server.url + "/v1/messages").status_code == 405


def test_request_id_on_every_response(server: Server) -> None:
    for response in (httpx.get(server.url + "/v1/models"), post(server, "/v1/messages", GOOD)):
        assert response.headers["request-id"].startswith("req_")


def test_server_keeps_serving_after_bad_input(server: Server) -> None:
    post(server, "/v1/messages", b"\xff\xfe garbage")
    post(server, "/v1/chat/completions", b"")
    message = server.anthropic().messages.create(**GOOD)  # type: ignore[arg-type]
    assert message.usage.output_tokens > 0
    assert server.process.poll() is None
