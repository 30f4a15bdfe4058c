"""AWS's binary event-stream framing (application/vnd.amazon.eventstream), both ways: the encoder the Bedrock dialect
streams with, and the incremental decoder the Bedrock provider reads upstream streams with.

A message is a prelude (total length, headers length, prelude CRC32), typed headers, a payload and a CRC32 of all
that precedes it; botocore.eventstream is the reference parser. Bedrock only sends string headers, so the encoder
writes only those; the decoder reads every type.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import orjson

# botocore's limits: a message up to 16 MiB, its headers up to 128 KiB. A peer that announces more is broken or
# hostile, and a decoder that waited for the bytes would buffer without bound.
MAX_MESSAGE = 16 * 1024 * 1024
MAX_HEADERS = 128 * 1024
_PRELUDE = 12
_STRING = 7


@dataclass(frozen=True)
class EventMessage:
    headers: dict[str, str]
    payload: bytes


class EventStreamError(ValueError):
    pass


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One message: string headers and the payload, with both checksums."""
    packed = b"".join(_string_header(name, value) for name, value in headers.items())
    prelude = struct.pack(">II", _PRELUDE + len(packed) + len(payload) + 4, len(packed))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + packed + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + bytes([_STRING]) + struct.pack(">H", len(raw_value)) + raw_value


def event_frame(event_type: str, payload: object) -> bytes:
    """An `event` message whose payload is `payload` as JSON, as Bedrock sends each stream event."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, orjson.dumps(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    """An `exception` message; `exception_type` is the stream member botocore raises it as (`throttlingException`)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, orjson.dumps({"message": message}))


class EventStreamDecoder:
    """Incremental decoder: feed bytes, get whole messages, both CRCs checked and every length bounded."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> Iterator[EventMessage]:
        self._buffer += data
        while len(self._buffer) >= _PRELUDE:
            total, headers_length, prelude_crc = struct.unpack(">III", self._buffer[:_PRELUDE])
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("event-stream prelude checksum mismatch")
            if total < 16 or headers_length > total - 16 or total > MAX_MESSAGE or headers_length > MAX_HEADERS:
                raise EventStreamError("event-stream message has impossible lengths")
            if len(self._buffer) < total:
                return
            message, self._buffer = self._buffer[:total], self._buffer[total:]
            (message_crc,) = struct.unpack(">I", message[-4:])
            if zlib.crc32(message[:-4]) != message_crc:
                raise EventStreamError("event-stream message checksum mismatch")
            headers = _headers(message[_PRELUDE : _PRELUDE + headers_length])
            yield EventMessage(headers, message[_PRELUDE + headers_length : -4])


_FIXED_SIZES = {2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}  # byte, short, integer, long, timestamp, uuid


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    i = 0
    try:
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
                size = _FIXED_SIZES.get(kind)
                if size is None:
                    raise EventStreamError(f"unknown event-stream header type {kind}")
                headers[name] = raw[i : i + size].hex()
                i += size
    except (IndexError, struct.error, UnicodeDecodeError):
        raise EventStreamError("event-stream headers are malformed") from None
    if i != len(raw):
        raise EventStreamError("event-stream headers are malformed")
    return headers
