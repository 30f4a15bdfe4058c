"""The event-stream framing both ways, with botocore's parser as the oracle: what we encode botocore reads (as boto3
would), what botocore's fixtures frame we decode, and what is broken or oversized is refused."""

from __future__ import annotations

import struct
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from basalt.wire.eventstream import (
    MAX_MESSAGE,
    EventStreamDecoder,
    EventStreamError,
    encode_message,
    event_frame,
    exception_frame,
)


def test_what_we_encode_botocore_parses() -> None:
    data = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hé 🙂"}}) + exception_frame(
        "throttlingException", "slow down"
    )
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    first, second = list(buffer)
    assert first.headers == {
        ":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"
    }  # fmt: skip
    assert first.payload.decode() == '{"contentBlockIndex":0,"delta":{"text":"hé 🙂"}}'
    assert second.headers[":exception-type"] == "throttlingException"
    assert second.payload == b'{"message":"slow down"}'


def test_our_decoder_reads_our_frames_in_any_pieces() -> None:
    data = b"".join(event_frame("chunk", {"bytes": "e30=", "i": i}) for i in range(5))
    decoder = EventStreamDecoder()
    messages = [m for i in range(0, len(data), 3) for m in decoder.feed(data[i : i + 3])]
    assert [m.headers[":event-type"] for m in messages] == ["chunk"] * 5
    assert messages[4].payload == b'{"bytes":"e30=","i":4}'


def test_typed_headers_decode() -> None:
    # botocore's header types other than strings: bool, byte, int32, timestamp; Bedrock never sends them, but a
    # decoder must step over them rather than misread what follows.
    raw = b"".join(
        [
            bytes([4]) + b"flag" + b"\x00",
            bytes([1]) + b"b" + b"\x02" + b"\x07",
            bytes([3]) + b"int" + b"\x04" + struct.pack(">i", 42),
            bytes([2]) + b"ts" + b"\x08" + struct.pack(">q", 1),
            bytes([4]) + b"name" + b"\x07" + struct.pack(">H", 2) + b"ok",
        ]
    )
    prelude = struct.pack(">II", 12 + len(raw) + 4, len(raw))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw
    message += struct.pack(">I", zlib.crc32(message))
    (decoded,) = EventStreamDecoder().feed(message)
    assert decoded.headers == {"flag": "true", "b": "07", "int": "0000002a", "ts": "0000000000000001", "name": "ok"}


def test_corrupt_and_oversized_frames_are_refused() -> None:
    good = encode_message({":event-type": "x"}, b"{}")
    with pytest.raises(EventStreamError, match="message checksum"):
        list(EventStreamDecoder().feed(good[:-1] + bytes([good[-1] ^ 1])))
    with pytest.raises(EventStreamError, match="prelude checksum"):
        list(EventStreamDecoder().feed(bytes([good[0] ^ 1]) + good[1:]))
    huge = struct.pack(">II", MAX_MESSAGE + 1, 0)
    with pytest.raises(EventStreamError, match="impossible lengths"):  # refused before waiting for 16 MiB
        list(EventStreamDecoder().feed(huge + struct.pack(">I", zlib.crc32(huge))))
    bad_headers = struct.pack(">II", 12 + 3 + 4, 3)
    message = bad_headers + struct.pack(">I", zlib.crc32(bad_headers)) + b"\x09ab"
    with pytest.raises(EventStreamError, match="headers are malformed"):
        list(EventStreamDecoder().feed(message + struct.pack(">I", zlib.crc32(message))))
