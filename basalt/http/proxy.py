"""Which proxy, if any, an upstream is reached through: the standard environment variables, as curl, requests and
httpx read them.

`HTTPS_PROXY` for https upstreams and `HTTP_PROXY` for http ones, `ALL_PROXY` for either when those are unset (the
lowercase spelling wins over the uppercase one; an empty value is unset). `NO_PROXY` lists hosts reached directly:
`*` for all, a domain (`example.com` or `.example.com`: the domain and every name under it), optionally with a
`:port`, an IP address or a CIDR block. Loopback (`localhost`, 127.0.0.0/8, ::1) is always direct, as in Go's
client: a proxy cannot reach this host's loopback. Proxy URLs are `http://` (or `https://`, TLS to the proxy), with
optional `user:password@` sent as `Proxy-Authorization: Basic`; the credentials are never shown. `open_tunnel` makes
the CONNECT tunnel an https upstream is reached through.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Proxy:
    scheme: str  # how the proxy itself is reached: http or https
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # the Proxy-Authorization value

    @property
    def address(self) -> str:
        """host:port, as error messages name the proxy (never with its credentials)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def proxy_for(scheme: str, host: str, port: int, environ: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy for an upstream at scheme://host:port, or None to connect directly."""
    env = os.environ if environ is None else environ
    names = ("https_proxy", "all_proxy") if scheme == "https" else ("http_proxy", "all_proxy")
    for name in names:
        value = (env.get(name) or env.get(name.upper()) or "").strip()
        if value:
            break
    else:
        return None
    if bypassed(host, port, (env.get("no_proxy") or env.get("NO_PROXY") or "")):
        return None
    return parse_proxy(value, name.upper())


def parse_proxy(url: str, variable: str) -> Proxy:
    """A proxy URL; a bare `host:port` means http://, as curl reads it."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{variable}: {parts.scheme}:// proxies are not supported; use an http:// proxy")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"{variable}: the proxy's port is not a number") from None
    if not parts.hostname:
        raise ValueError(f"{variable}: the proxy URL has no host")
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
    return Proxy(parts.scheme, parts.hostname, port, authorization)


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether host:port is reached directly: loopback always, and whatever NO_PROXY names."""
    host = host.lower().strip("[]").rstrip(".")
    ip = _ip(host)
    if host == "localhost" or host.endswith(".localhost") or (ip is not None and ip.is_loopback):
        return True
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, wanted_port = _split_port(entry)
        if wanted_port is not None and wanted_port != port:
            continue
        if ip is not None:
            network = _network(entry)
            if network is not None and ip.version == network.version and ip in network:
                return True
            continue
        domain = entry.lstrip("*").lstrip(".").rstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, or an entry without a port (a bare IPv6 address has colons of its own)."""
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        return address, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


class ProxyRefused(ConnectionError):
    """The proxy answered CONNECT with something other than a 2xx, or not like an HTTP proxy at all."""


class _ConnectReply(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT: a status line and headers, bounded, with nothing after them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.limit = limit
        self.buffer = b""
        self.head: asyncio.Future[bytes] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        if self.head.done():
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end >= 0 and end + 4 == len(self.buffer):
            self.head.set_result(self.buffer[:end])
        elif end >= 0:
            self.head.set_exception(ProxyRefused("the proxy sent data before the tunnel was up"))
        elif len(self.buffer) > self.limit:
            self.head.set_exception(ProxyRefused(f"the proxy's answer to CONNECT is over {self.limit} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(ProxyRefused("the proxy closed the connection instead of answering CONNECT"))


async def open_tunnel(
    loop: asyncio.AbstractEventLoop,
    proxy: Proxy,
    authority: str,
    limit: int,
) -> asyncio.Transport:
    """A connection to the proxy on which CONNECT `authority` (host:port) succeeded: what is written to it from now
    on reaches the upstream. The credentials go to the proxy only, never inside the tunnel."""
    reply = _ConnectReply(loop, limit)
    tls = ssl.create_default_context() if proxy.scheme == "https" else None
    transport, _ = await loop.create_connection(
        lambda: reply, proxy.host, proxy.port, ssl=tls, server_hostname=proxy.host if tls else None
    )
    try:
        auth = f"proxy-authorization: {proxy.authorization}\r\n" if proxy.authorization else ""
        transport.write(f"CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n{auth}\r\n".encode("latin-1"))
        status_line = (await reply.head).split(b"\r\n", 1)[0].decode("latin-1")
        words = status_line.split(" ", 2)
        if len(words) < 2 or not words[0].startswith("HTTP/1.") or not words[1].isdigit():
            raise ProxyRefused(f"the proxy answered CONNECT with {status_line[:100]!r}, not an HTTP status")
        status = int(words[1])
        if status == 407:
            hint = "check the credentials in the proxy URL" if proxy.authorization else "add user:password@ to its URL"
            raise ProxyRefused(f"the proxy wants authentication (407; {hint})")
        if not 200 <= status < 300:
            raise ProxyRefused(f"the proxy refused the tunnel: {status_line[:200]}")
    except BaseException:
        transport.close()
        raise
    return transport
