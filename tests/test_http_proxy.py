"""The upstream client through a proxy named by the environment: a real forwarding/CONNECT proxy (an asyncio server
on loopback, written here) in front of raw upstreams, one of them TLS with a certificate from a CA made for the test
and trusted through SSL_CERT_FILE. Plus the NO_PROXY rules, and the bounds and timeouts on what comes back."""

from __future__ import annotations

import asyncio
import base64
import gzip
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme

from basalt import InProcess, Settings
from basalt.config import Deployment
from basalt.http.client import MAX_HEAD, HTTPClient, HTTPError
from basalt.http.proxy import Proxy, bypassed, parse_proxy, proxy_for

from .fakes.upstream import fake_upstream

PROXY_VARIABLES = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"]
UPSTREAM = "upstream.example"  # resolved by the proxy only: the client must not look it up itself


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA trusted as other clients let one be: SSL_CERT_FILE."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


@dataclass
class Seen:
    requests: list[bytes] = field(default_factory=list)  # what the upstream received, head and body
    server_names: list[str | None] = field(default_factory=list)  # SNI of each TLS handshake
    connections: int = 0


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line[15:]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")), 0)
    return head + await reader.readexactly(length)


@asynccontextmanager
async def upstream(ca: trustme.CA | None = None) -> AsyncIterator[tuple[int, Seen]]:
    """An upstream answering every POST with a small JSON body; TLS for UPSTREAM's name when given a CA."""
    seen = Seen()
    tls = None
    if ca is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(UPSTREAM).configure_cert(tls)
        tls.sni_callback = lambda sock, name, ctx: seen.server_names.append(name)  # type: ignore[func-returns-value]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        with suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                seen.requests.append(await read_request(reader))
                writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{"ok": true}')
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


@dataclass
class LoopbackProxy:
    """An HTTP proxy: CONNECT tunnels and absolute-form forwarding, to the ports `routes` maps names to."""

    routes: dict[str, int]
    credentials: str | None = None  # "user:password" it insists on
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # request line, Proxy-Authorization
    connections: int = 0

    def allowed(self, headers: dict[str, str]) -> bool:
        if self.credentials is None:
            return True
        return headers.get("proxy-authorization") == "Basic " + base64.b64encode(self.credentials.encode()).decode()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with suppress(asyncio.IncompleteReadError, ConnectionError):
            upstream_writer: asyncio.StreamWriter | None = None
            while True:
                request = await read_request(reader)
                head, _, body = request.partition(b"\r\n\r\n")
                line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {name.lower(): value for name, value in (h.split(": ", 1) for h in header_lines)}
                self.seen.append((line, headers.get("proxy-authorization")))
                if not self.allowed(headers):
                    writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
                    break
                method, target, _ = line.split(" ")
                if method == "CONNECT":
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.routes[target])
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
                    return
                url = urlsplit(target)
                if upstream_writer is None:
                    up_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.routes[url.netloc])
                kept = [h for h in header_lines if not h.lower().startswith("proxy-authorization:")]
                upstream_writer.write("\r\n".join([f"{method} {url.path} HTTP/1.1", *kept]).encode() + b"\r\n\r\n")
                upstream_writer.write(body)
                writer.write(await read_request(up_reader))  # the answer has a content-length too
        writer.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@asynccontextmanager
async def proxy(
    routes: dict[str, int], credentials: str | None = None, ca: trustme.CA | None = None
) -> AsyncIterator[tuple[int, LoopbackProxy]]:
    """The proxy on a loopback port; TLS (a certificate for 127.0.0.1) when given a CA."""
    state = LoopbackProxy(routes, credentials)
    tls = None
    if ca is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(tls)
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0, ssl=tls)
    async with server:
        yield server.sockets[0].getsockname()[1], state


async def post_twice(client: HTTPClient) -> None:
    for _ in range(2):
        response = await client.post("/messages", b'{"q": 1}')
        assert response.status == 200 and await response.read() == b'{"ok": true}'
        response.release()
    await client.close()


def test_an_http_upstream_is_reached_through_http_proxy_with_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        async with upstream() as (port, seen), proxy({f"{UPSTREAM}:8080": port}, "me:p@ss") as (proxy_port, state):
            monkeypatch.setenv("HTTP_PROXY", f"http://me:p%40ss@127.0.0.1:{proxy_port}")
            client = HTTPClient(f"http://{UPSTREAM}:8080/v1", {"x-api-key": "k"})
            assert client.proxy == Proxy("http", "127.0.0.1", proxy_port, client.proxy.authorization)  # type: ignore[union-attr]
            assert "p@ss" not in repr(client.proxy) and "p%40ss" not in repr(client.proxy)
            await post_twice(client)
        auth = "Basic " + base64.b64encode(b"me:p@ss").decode()
        assert state.seen == [(f"POST http://{UPSTREAM}:8080/v1/messages HTTP/1.1", auth)] * 2  # absolute form
        assert state.connections == 1 and seen.connections == 1  # kept alive through the proxy
        assert f"host: {UPSTREAM}:8080".encode() in seen.requests[0] and seen.requests[0].endswith(b'{"q": 1}')

    asyncio.run(main())


def test_an_https_upstream_is_reached_through_a_connect_tunnel(
    monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, trusted: None
) -> None:
    async def main() -> None:
        async with upstream(ca) as (port, seen), proxy({f"{UPSTREAM}:443": port}, "me:secret") as (proxy_port, state):
            monkeypatch.setenv("https_proxy", f"http://me:secret@127.0.0.1:{proxy_port}")
            monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # the lowercase spelling wins
            await post_twice(HTTPClient(f"https://{UPSTREAM}/v1"))
        auth = "Basic " + base64.b64encode(b"me:secret").decode()
        assert state.seen == [(f"CONNECT {UPSTREAM}:443 HTTP/1.1", auth)] and state.connections == 1
        assert seen.server_names == [UPSTREAM]  # TLS to the upstream itself, inside the tunnel, under its name
        assert seen.requests[0].startswith(b"POST /v1/messages HTTP/1.1\r\n")
        assert all(b"proxy-authorization" not in r.lower() for r in seen.requests)  # the key stays with the proxy

    asyncio.run(main())


def test_an_https_proxy_carries_the_tunnel_inside_its_own_tls(
    monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, trusted: None
) -> None:
    async def main() -> None:
        async with upstream(ca) as (port, seen), proxy({f"{UPSTREAM}:443": port}, ca=ca) as (proxy_port, state):
            monkeypatch.setenv("HTTPS_PROXY", f"https://127.0.0.1:{proxy_port}")
            await post_twice(HTTPClient(f"https://{UPSTREAM}/v1"))
        assert state.seen == [(f"CONNECT {UPSTREAM}:443 HTTP/1.1", None)]
        assert seen.server_names == [UPSTREAM] and len(seen.requests) == 2

    asyncio.run(main())


def test_an_untrusted_upstream_certificate_fails_inside_the_tunnel(
    monkeypatch: pytest.MonkeyPatch, ca: trustme.CA
) -> None:
    async def main() -> None:
        async with upstream(ca) as (port, _), proxy({f"{UPSTREAM}:443": port}) as (proxy_port, _):
            monkeypatch.setenv("ALL_PROXY", f"127.0.0.1:{proxy_port}")  # no scheme: http://, as curl reads it
            with pytest.raises(HTTPError, match=f"cannot connect to {UPSTREAM}:443 through the proxy.*verify failed"):
                await HTTPClient(f"https://{UPSTREAM}/v1").post("/x", b"{}")

    asyncio.run(main())


def test_a_proxy_that_wants_credentials_is_a_clear_error_without_them(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        async with proxy({}, "me:secret") as (proxy_port, _):
            monkeypatch.setenv("HTTPS_PROXY", f"http://me:wrong@127.0.0.1:{proxy_port}")
            with pytest.raises(HTTPError) as caught:
                await HTTPClient(f"https://{UPSTREAM}/v1").post("/x", b"{}")
        assert "wants authentication (407; check the credentials in the proxy URL)" in str(caught.value)
        assert "wrong" not in str(caught.value)

    asyncio.run(main())


def test_no_proxy_and_loopback_go_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "internal.example, .corp.example:8080")
    assert HTTPClient("http://api.internal.example/v1").proxy is None
    assert HTTPClient("http://a.corp.example:8080/v1").proxy is None
    assert HTTPClient("http://a.corp.example:9090/v1").proxy is not None
    assert HTTPClient("http://elsewhere.example/v1").proxy is not None

    async def main() -> None:
        async with upstream() as (port, seen):
            await post_twice(HTTPClient(f"http://127.0.0.1:{port}/v1"))  # loopback: never through the proxy
        assert len(seen.requests) == 2

    asyncio.run(main())


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "direct"),
    [
        ("api.example.com", 443, "*", True),
        ("api.example.com", 443, "example.com", True),
        ("example.com", 443, ".example.com", True),
        ("api.example.com", 443, "*.example.com", True),
        ("badexample.com", 443, "example.com", False),
        ("api.example.com", 443, "example.com:8443", False),
        ("api.example.com", 8443, "example.com:8443", True),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("10.1.2.3", 80, "10.1.2.3", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("2001:db8::1", 443, "2001:db8::/32", True),
        ("2001:db8::1", 443, "[2001:db8::1]:443", True),
        ("API.Example.COM.", 443, "example.com", True),
        ("localhost", 80, "", True),
        ("127.0.0.2", 80, "", True),
        ("::1", 80, "", True),
        ("example.org", 80, "", False),
    ],
)
def test_no_proxy_rules(host: str, port: int, no_proxy: str, direct: bool) -> None:
    assert bypassed(host, port, no_proxy) is direct


def test_proxy_variables_and_urls() -> None:
    env = {"HTTP_PROXY": "http://h:3128", "ALL_PROXY": "http://all:1"}
    assert proxy_for("http", "x.example", 80, env) == Proxy("http", "h", 3128)
    assert proxy_for("https", "x.example", 443, env) == Proxy("http", "all", 1)  # ALL_PROXY when no HTTPS_PROXY
    assert proxy_for("https", "x.example", 443, {"https_proxy": "", "HTTPS_PROXY": ""}) is None  # empty is unset
    assert parse_proxy("https://proxy.example", "HTTPS_PROXY") == Proxy("https", "proxy.example", 443)
    assert parse_proxy("u%3A1:p%20w@h:8", "X").authorization == "Basic " + base64.b64encode(b"u:1:p w").decode()
    with pytest.raises(ValueError, match="ALL_PROXY: socks5:// proxies are not supported"):
        proxy_for("https", "x.example", 443, {"ALL_PROXY": "socks5://h:1080"})
    with pytest.raises(ValueError, match="port is not a number"):
        parse_proxy("http://h:port", "HTTP_PROXY")


# Bounds and timeouts: what an upstream (or a proxy) sends back cannot hold the client forever or fill its memory.


@asynccontextmanager
async def raw_server(answer: bytes | None) -> AsyncIterator[int]:
    """Sends `answer` (None: nothing at all, ever) to whoever connects."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError):
            if answer is not None:
                await read_request(reader)
                writer.write(answer)
                await writer.drain()
            await asyncio.sleep(3600)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def test_connect_and_read_timeouts_are_enforced_and_say_which(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        async with raw_server(None) as silent:
            tls = HTTPClient(f"https://127.0.0.1:{silent}/v1", connect_timeout=0.2)  # the handshake never ends
            with pytest.raises(TimeoutError, match=f"connecting to 127.0.0.1:{silent} took over 0.2 s"):
                await tls.post("/x", b"{}")
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{silent}")  # a proxy that never answers CONNECT
            tunnel = HTTPClient(f"https://{UPSTREAM}/v1", connect_timeout=0.2)
            match = f"connecting to {UPSTREAM}:443 through the proxy at 127.0.0.1:{silent} took over 0.2 s"
            with pytest.raises(TimeoutError, match=match):
                await tunnel.post("/x", b"{}")
        async with raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf") as stalls:
            client = HTTPClient(f"http://127.0.0.1:{stalls}/v1", read_timeout=0.2)
            response = await client.post("/x", b"{}")
            with pytest.raises(TimeoutError, match=r"nothing received for 0\.2 s"):
                await response.read()
            response.release()

    asyncio.run(main())


def test_an_endless_response_head_is_refused_at_its_bound() -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"x-filler: " + b"a" * (4 * MAX_HEAD)

    async def main() -> None:
        async with raw_server(endless) as port:
            with pytest.raises(HTTPError, match="status line and headers are over 65536 bytes"):
                await HTTPClient(f"http://127.0.0.1:{port}/v1").post("/x", b"{}")

    asyncio.run(main())


def test_a_compressed_body_is_inflated_a_bounded_piece_at_a_time() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KiB
    head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(bomb)

    async def main() -> None:
        async with raw_server(head + bomb) as port:
            response = await HTTPClient(f"http://127.0.0.1:{port}/v1").post("/x", b"{}")
            sizes = [len(piece) async for piece in response.chunks()]
            response.release()
        assert sum(sizes) == 64 << 20 and max(sizes) <= 1 << 20

    asyncio.run(main())


def test_the_gateway_reaches_its_deployments_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_upstream() as (url, script):
        port = int(urlsplit(url).port or 0)
        settings = Settings(
            serve_local=False,
            deployments=[Deployment(name="m", provider="openai", model="up", base_url=f"http://{UPSTREAM}:{port}/v1")],
        )

        def ask() -> str:
            with InProcess(settings) as gateway:
                reply = gateway.openai(max_retries=0).chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=5
                )
            return str(reply.choices[0].message.content)

        async def main() -> tuple[str, LoopbackProxy]:
            async with proxy({f"{UPSTREAM}:{port}": port}) as (proxy_port, state):
                monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
                return await asyncio.to_thread(ask), state

        text, state = asyncio.run(main())
    assert text == "Hello from the fake upstream." and len(script.requests) == 1
    assert state.seen == [(f"POST http://{UPSTREAM}:{port}/v1/chat/completions HTTP/1.1", None)]
