"""A real `basalt serve` against clients that misbehave on the wire: trickled headers and bodies (slowloris) are cut
off with a 408, a silent connection is closed, a rebound DNS name is refused, and a 405 keeps its Allow header."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import orjson
import pytest

from .control.servers import Server

DEADLINE = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("edge")
    config = {"serve_local": False, "header_timeout": DEADLINE, "body_timeout": DEADLINE}
    running = Server(home, config).start()
    try:
        yield running
    finally:
        running.stop()


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(0.1)
    return sock


def trickle(sock: socket.socket, pieces: Iterator[bytes], seconds: float) -> tuple[bytes, float]:
    """Send a piece every 0.2 s for up to `seconds`; returns what the server sent and when it closed (or inf)."""
    start, received = time.monotonic(), b""
    while time.monotonic() - start < seconds:
        with contextlib.suppress(OSError):  # the server closed the connection: what it said is still to be read
            sock.sendall(next(pieces))
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return received, time.monotonic() - start
            if not chunk:
                return received, time.monotonic() - start
            received += chunk
    return received, float("inf")


def forever(piece: bytes) -> Iterator[bytes]:
    while True:
        yield piece


def test_trickled_headers_are_cut_off_with_a_408(server: Server) -> None:
    """Before, a header line every 0.2 s kept the connection open as long as the client liked."""
    with connect(server) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        received, closed_after = trickle(sock, forever(b"x-a: b\r\n"), 4 * DEADLINE)
    assert closed_after < 2 * DEADLINE + 0.5, received
    assert received.startswith(b"HTTP/1.1 408 ") and b"headers did not arrive within 1 s" in received


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with connect(server) as sock:
        received, closed_after = trickle(sock, forever(b""), 4 * DEADLINE)
    assert received == b"" and closed_after < 2 * DEADLINE + 0.5


@pytest.mark.parametrize(("path", "shape"), [("/v1/messages", "anthropic"), ("/v1/chat/completions", "openai")])
def test_a_trickled_body_is_cut_off_with_a_408_in_the_routes_dialect(server: Server, path: str, shape: str) -> None:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(head.encode() + b'{"model": ')
        received, closed_after = trickle(sock, forever(b" "), 4 * DEADLINE)
    assert closed_after < 2 * DEADLINE + 0.5, received
    status, _, body = received.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408 ") and b"connection: close" in status
    error = orjson.loads(body)
    assert (error.get("type") == "error") == (shape == "anthropic")
    assert "body did not arrive within 1 s" in error["error"]["message"]


def test_a_slow_but_steady_request_within_the_deadlines_is_served(server: Server) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        time.sleep(DEADLINE / 2)
        sock.sendall(b"Host: localhost:1\r\n\r\n")
        received, _ = trickle(sock, forever(b""), DEADLINE / 2)
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b'{"status":"ok"}')


def test_a_rebound_dns_name_is_refused(server: Server) -> None:
    answered = httpx.get(server.url + "/v1/models", headers={"host": f"attacker.example:{server.port}"})
    assert answered.status_code == 421 and "allowed_hosts" in answered.json()["error"]["message"]
    assert httpx.get(server.url + "/v1/models").status_code == 200


def test_a_405_keeps_its_allow_header(server: Server) -> None:
    """Before, the error handler rebuilt the response and dropped Allow."""
    answered = httpx.get(server.url + "/v1/messages")
    assert answered.status_code == 405 and answered.headers["allow"] == "POST"
    assert answered.json()["error"]["type"] == "invalid_request_error"
    assert httpx.delete(server.url + "/admin/projects").headers["allow"] == "GET, POST"


def test_the_server_still_serves_after_all_that(server: Server, tmp_path: Path) -> None:
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
