"""AWS plumbing for Bedrock: the binary event-stream framing (SigV4 signing lives in basalt/wire/sigv4.py)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass


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
