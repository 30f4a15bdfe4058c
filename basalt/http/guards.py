"""What keeps web pages from driving a Basalt they can reach (a local one with auth off, above all).

- Host allow-list: a page that rebinds its own DNS name to 127.0.0.1 reaches the server with its own name in `Host`;
  answering only the names the server is known by (the loopback names, when bound to loopback) defeats DNS rebinding.
- Content-Type: a browser sends a cross-origin `text/plain`, form or untyped POST without asking first (no CORS
  preflight); every body Basalt reads is JSON, so any other body is refused (415) before a route runs. The one
  exception, a multipart upload to POST /v1/files (OpenAI Files), is taken only from a request that a page cannot
  send without a preflight: one with a credential header (Authorization or x-api-key, which no simple request
  carries) or from an allowed origin.
- Origin: a browser names the page behind every cross-origin state-changing request; one not in `cors_origins` is
  refused (403). CORS is off unless `cors_origins` lists origins; then their preflights are answered and their
  responses readable.

One pass over the request's headers (about a microsecond) decides, for every route, the directly dispatched
generation routes included.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.responses import Response
from starlette.types import Message, Scope, Send

from ..errors import BasaltError, InvalidRequest, PermissionDenied

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_METHODS = "GET, POST, PATCH, DELETE"
# Routes that take a multipart/form-data body (with a credential header or from an allowed origin).
MULTIPART_PATHS = frozenset({"/v1/files"})


class MisdirectedRequest(InvalidRequest):
    @property
    def status(self) -> int:
        return 421


class UnsupportedMediaType(InvalidRequest):
    @property
    def status(self) -> int:
        return 415


def default_hosts(bind: str) -> list[str]:
    """The loopback names when the server listens on loopback only; any name otherwise (behind a proxy or a load
    balancer the names are the operator's to list)."""
    if bind == "localhost":
        return list(LOOPBACK_NAMES)
    try:
        loopback = ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return ["*"]
    return list(LOOPBACK_NAMES) if loopback else ["*"]


class BrowserGuard:
    def __init__(self, allowed_hosts: Iterable[str], cors_origins: Iterable[str]) -> None:
        hosts = [h.strip().lower().rstrip(".") for h in allowed_hosts]
        self.any_host = "*" in hosts
        self.hosts = frozenset(h.encode() for h in hosts)
        origins = [o.strip().lower().rstrip("/") for o in cors_origins]
        self.any_origin = "*" in origins
        self.origins = frozenset(o.encode() for o in origins)
        self.cors = bool(origins)

    def screen(self, scope: Scope) -> BasaltError | Response | None:
        """None to go on; an error to refuse the request with; the answer to a CORS preflight."""
        host = origin = content_type = None
        body = signed = credential = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                body = value != b"0"
            elif name == b"transfer-encoding":
                body = True
            elif name == b"authorization":
                signed = credential = True
            elif name == b"x-amz-date":
                signed = True
            elif name == b"x-api-key":
                credential = True
        if host is not None and not self.any_host and _hostname(host) not in self.hosts:
            return MisdirectedRequest(
                f"This server does not answer for the host {host.decode('latin-1')!r}; it answers for "
                f"{', '.join(sorted(h.decode() for h in self.hosts))} (the allowed_hosts setting)."
            )
        method = scope["method"]
        if origin is not None:
            # The page's own server (the console at /console) is same-origin: its Origin is this Host, which the
            # Host check above has vouched for, so a rebinding page (whose Host is its own name) gains nothing.
            allowed = self.any_origin or origin.lower() in self.origins or _same_origin(origin, host)
            if allowed and method == "OPTIONS":
                return self._preflight(scope, origin)
            if not allowed and method in _UNSAFE:
                return PermissionDenied(
                    f"This server does not take requests from web pages at {origin.decode('latin-1')!r}; add the "
                    "origin to the cors_origins setting to allow it."
                )
        # boto3 sends InvokeModel's body untyped; a page cannot send these headers without a preflight, so a signed
        # or keyed Bedrock request without a type is no drive-by.
        untyped_aws = content_type is None and signed and scope["path"].startswith("/model/")
        if body and method in _WITH_BODY and not _is_json(content_type) and not untyped_aws:
            # Past the Origin check above, an origin here is an allowed one; without one, only a credential header
            # shows that no web page sent the upload on its own.
            if _is_multipart(content_type) and scope["path"] in MULTIPART_PATHS and (credential or origin):
                return None
            given = content_type.decode("latin-1") if content_type is not None else "none"
            return UnsupportedMediaType(
                f"The request body must be JSON, sent with Content-Type: application/json (got {given!r})."
            )
        return None

    def readable(self, scope: Scope, send: Send) -> Send:
        """`send` that lets an allowed origin's page read the response (CORS), when the request has one."""
        if not self.cors:
            return send
        origin = next((v for k, v in scope["headers"] if k == b"origin"), None)
        if origin is None or not (self.any_origin or origin.lower() in self.origins):
            return send
        added = [
            (b"access-control-allow-origin", origin),
            (b"access-control-expose-headers", b"*"),
            (b"vary", b"origin"),
        ]

        async def send_readable(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        return send_readable

    def _preflight(self, scope: Scope, origin: bytes) -> Response:
        asked = next((v for k, v in scope["headers"] if k == b"access-control-request-headers"), b"")
        headers = {
            "access-control-allow-origin": origin.decode("latin-1"),
            "access-control-allow-methods": _METHODS,
            "access-control-max-age": "600",
            "vary": "origin",
        }
        if asked:
            headers["access-control-allow-headers"] = asked.decode("latin-1")
        return Response(status_code=204, headers=headers)


def _hostname(host: bytes) -> bytes:
    """The name in a Host header, without its port: `[::1]:8000` -> `[::1]`, `LocalHost.:80` -> `localhost`."""
    host = host.lower()
    if host.startswith(b"["):
        return host[: host.find(b"]") + 1]
    return host.partition(b":")[0].rstrip(b".")


def _is_multipart(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.partition(b";")[0].strip().lower() == b"multipart/form-data"


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media = content_type.partition(b";")[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _same_origin(origin: bytes, host: bytes | None) -> bool:
    if host is None:
        return False
    scheme, _, rest = origin.lower().partition(b"://")
    return scheme in (b"http", b"https") and rest == host.lower()
