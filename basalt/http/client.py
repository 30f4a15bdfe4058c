"""A small HTTP/1.1 client for the upstream providers: keep-alive pools per event loop, TLS, timeouts, streamed bodies,
proxies from the environment.

Why our own: it does only what talking to an API upstream needs (POST a body, read the status, headers and body as
it arrives) on an asyncio protocol with llhttp (httptools) parsing, and a general client (aiohttp) cost about 0.2 ms
more per request here, which was most of the gateway's overhead over a minimal proxy.

What it supports: http and https (TLS verified against the system's CAs; `SSL_CERT_FILE` / `SSL_CERT_DIR` name
others, as OpenSSL reads them), keep-alive, chunked and length-delimited bodies and bodies ended by the close,
gzip/deflate, connect and read timeouts, bounded heads and decompressed pieces, and the proxies of `HTTPS_PROXY`,
`HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (see `proxy.py`; read once, when the client is made): a CONNECT tunnel for
https upstreams (TLS to the upstream inside it, its name as SNI), absolute-form requests for http ones, with
`Proxy-Authorization` from the proxy URL. Not supported, on purpose: redirects (an API POST must not be re-sent
wherever a server points; the caller sees them as errors), cookies, HTTP/2, SOCKS proxies.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

from .proxy import Proxy, open_tunnel, proxy_for

# Past this much unread body the socket stops being read until the consumer catches up; a compressed body is also
# inflated at most this much at a time.
HIGH_WATER = 1 << 20
MAX_HEAD = 64 * 1024  # a response's status line and headers (a proxy's answer to CONNECT too)
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}  # zlib's framing per content-encoding


class HTTPError(Exception):
    """The upstream could not be reached, or broke the connection or the protocol."""


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.error: Exception | None = None
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.received = False  # any byte of this response
        self.head_size = 0
        self.headers_done = False
        self.keep_alive = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(HTTPError(f"malformed HTTP response: {exc}"))
            return
        if not self.headers_done:
            self.head_size += len(data)  # llhttp keeps a header it has not finished, so this bounds it
            if self.head_size > MAX_HEAD:
                self._fail(HTTPError(f"the response's status line and headers are over {MAX_HEAD} bytes"))
                return
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        delimited = "content-length" in self.headers or "transfer-encoding" in self.headers
        if self.headers_done and not delimited and exc is None and not self.complete:
            self.complete = True  # a body without a length ends when the server closes the connection
            self._wake()
        if not self.complete:
            self._fail(HTTPError(f"the connection closed before the response ended{f': {exc}' if exc else ''}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # read now: the parser forgets it once the message ends
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        self._wake()
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self, timeout: float | None) -> None:
        """Until more of the response has arrived (or it failed)."""
        self.waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, self._timed_out, self.waiter, timeout) if timeout else None
        try:
            await self.waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    @staticmethod
    def _timed_out(waiter: asyncio.Future[None], timeout: float) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError(f"nothing received for {timeout:g} s"))

    def take(self) -> bytes:
        data = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        self.body.clear()
        self.buffered = 0
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()
        return data


class Response:
    """One response; `release()` gives its connection back to the pool (or closes it when the body was not read)."""

    def __init__(self, pool: _Pool, connection: _Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._conn = connection
        self._timeout = read_timeout
        self.status = connection.status
        self.headers = connection.headers
        wbits = _WBITS.get(self.headers.get("content-encoding", "").lower())
        self._decoder = zlib.decompressobj(wbits) if wbits else None
        self._released = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in whatever pieces the network delivers."""
        conn = self._conn
        decoder = self._decoder
        while True:
            if conn.body:
                data = conn.take()
                if decoder is None:
                    yield data
                    continue
                while data:  # a small compressed piece can inflate to any size: at most HIGH_WATER at a time
                    if piece := decoder.decompress(data, HIGH_WATER):
                        yield piece
                    data = decoder.unconsumed_tail
                continue
            if conn.complete:
                if decoder is not None and (tail := decoder.flush()):
                    yield tail
                return
            if conn.error is not None:
                raise conn.error
            await conn.wait(self._timeout)

    async def read(self) -> bytes:
        parts = [piece async for piece in self.chunks()]
        return b"".join(parts)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        conn = self._conn
        reusable = conn.complete and conn.error is None and not conn.closed and conn.keep_alive
        if reusable:
            self._pool.put(conn)
        elif conn.transport is not None:
            conn.transport.close()


class _Pool:
    def __init__(self) -> None:
        self.idle: list[_Connection] = []

    def get(self) -> _Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    def put(self, conn: _Connection) -> None:
        conn.reset()
        self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


class HTTPClient:
    """POSTs to one origin (`base_url`'s scheme, host and port), keeping connections alive between requests, directly
    or through the proxy the environment names for it (decided here, once).

    Pools are per event loop: connections are bound to the loop that made them, and the in-process service runs its
    own loop beside the server's."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str] | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.origin = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if parts.scheme == "https" else None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.proxy: Proxy | None = proxy_for(parts.scheme, self.host, self.port)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        fixed = {"host": netloc, **(headers or {})}
        prefix = parts.path.rstrip("/")
        if self.proxy is not None and self.ssl is None:  # forwarded: the proxy reads the whole URL, and its key
            prefix = f"http://{netloc}{prefix}"
            if self.proxy.authorization:
                fixed["proxy-authorization"] = self.proxy.authorization
        self.prefix = prefix
        self._fixed = _header_lines(fixed)
        # Where a connection is made to, unless it is tunnelled: the upstream, or the proxy forwarding to it.
        self._dial = (self.host, self.port, self.ssl)
        if self.proxy is not None and self.ssl is None:
            tls = ssl.create_default_context() if self.proxy.scheme == "https" else None
            self._dial = (self.proxy.host, self.proxy.port, tls)
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Response:
        """Sends the request and waits for the status line and headers; the body is read from the response."""
        head = (
            f"POST {self.prefix}{path} HTTP/1.1\r\n".encode()
            + self._fixed
            + _header_lines({"content-length": str(len(body)), **(headers or {})})
            + b"\r\n"
        )
        message = head + body
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool()
        conn = pool.get()
        if conn is not None:
            try:
                return await self._exchange(pool, conn, message)
            except HTTPError:
                if conn.received:
                    raise
                # The upstream closed the idle connection as we reused it: nothing was processed, send it afresh.
        conn = await self._connect(loop)
        return await self._exchange(pool, conn, message)

    async def close(self) -> None:
        """Closes the idle connections of the current event loop's pool."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            pool.close()

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        """A new connection, TLS and any proxy tunnel included, all within the connect timeout."""
        conn = _Connection(loop)
        proxy = self.proxy
        where = self.origin if proxy is None else f"{self.origin} through the proxy at {proxy.address}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                if proxy is not None and self.ssl is not None:
                    await self._tunnel(loop, conn, proxy)
                else:
                    host, port, tls = self._dial
                    await loop.create_connection(
                        lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None
                    )
        except TimeoutError:
            raise TimeoutError(f"connecting to {where} took over {self.connect_timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise HTTPError(f"cannot connect to {where}: {exc}") from None
        return conn

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, conn: _Connection, proxy: Proxy) -> None:
        """TLS to the upstream (its name as SNI, its certificate checked) inside a CONNECT tunnel through the proxy."""
        assert self.ssl is not None
        raw = await open_tunnel(loop, proxy, self.origin, MAX_HEAD)
        try:
            tls = await loop.start_tls(raw, conn, self.ssl, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        if tls is None:
            raise HTTPError("the tunnel closed during the TLS handshake")
        conn.transport = tls  # start_tls does not call connection_made

    async def _exchange(self, pool: _Pool, conn: _Connection, message: bytes) -> Response:
        assert conn.transport is not None
        conn.transport.write(message)
        try:
            while not conn.headers_done:
                if conn.error is not None:
                    raise conn.error
                await conn.wait(self.read_timeout)
        except BaseException:
            if conn.transport is not None:
                conn.transport.close()
            raise
        return Response(pool, conn, self.read_timeout)


def _header_lines(headers: dict[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise ValueError(f"header {name!r} has a line break or a colon where it cannot")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")
