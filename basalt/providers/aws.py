"""AWS plumbing for Bedrock: Signature Version 4 request signing and the binary event-stream framing."""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_v4(
    method: str,
    url: str,
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str = "bedrock",
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign a request (host, x-amz-date, authorization, and the session token if any)."""
    amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    parts = urlsplit(url)
    headers = {"host": parts.netloc, "x-amz-date": amz_date}
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    signed = ";".join(sorted(headers))
    canonical_headers = "".join(f"{k}:{headers[k].strip()}\n" for k in sorted(headers))
    # Services other than S3 sign each path segment URI-encoded twice: the path is sent encoded once already.
    canonical_uri = quote(parts.path or "/", safe="/-_.~")
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    canonical = "\n".join([method, canonical_uri, query, canonical_headers, signed, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + credentials.secret_key).encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return headers


@dataclass(frozen=True)
class EventMessage:
    headers: dict[str, str]
    payload: bytes


class EventStreamError(ValueError):
    pass


class EventStreamDecoder:
    """Incremental decoder for application/vnd.amazon.eventstream: feed bytes, get whole messages, CRCs checked."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> Iterator[EventMessage]:
        self._buffer += data
        while len(self._buffer) >= 12:
            total, headers_length, prelude_crc = struct.unpack(">III", self._buffer[:12])
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("event-stream prelude checksum mismatch")
            if total < 16 or headers_length > total - 16:
                raise EventStreamError("event-stream message has impossible lengths")
            if len(self._buffer) < total:
                return
            message, self._buffer = self._buffer[:total], self._buffer[total:]
            (message_crc,) = struct.unpack(">I", message[-4:])
            if zlib.crc32(message[:-4]) != message_crc:
                raise EventStreamError("event-stream message checksum mismatch")
            headers = _headers(message[12 : 12 + headers_length])
            yield EventMessage(headers, message[12 + headers_length : -4])


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    i = 0
    while i < len(raw):
        name_length = raw[i]
        name = raw[i + 1 : i + 1 + name_length].decode()
        i += 1 + name_length
        kind = raw[i]
        i += 1
        if kind in (6, 7):  # byte array, string
            (length,) = struct.unpack(">H", raw[i : i + 2])
            headers[name] = raw[i + 2 : i + 2 + length].decode(errors="replace")
            i += 2 + length
        elif kind in (0, 1):  # bool true / false
            headers[name] = str(kind == 0).lower()
        else:
            size = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}.get(kind)
            if size is None:
                raise EventStreamError(f"unknown event-stream header type {kind}")
            headers[name] = raw[i : i + size].hex()
            i += size
    return headers
