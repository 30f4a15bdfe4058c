"""Ids that sort by creation time (so listing newest first is ordering by id), and items' fixed request ids."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def batch_id(prefix: str, now: float | None = None) -> str:
    """`<prefix>_` + 26 Crockford base32 characters: 48 bits of milliseconds, then 80 random bits (a ULID)."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


_BATCH_ID = re.compile(r"[a-z]{1,16}_[0-9A-HJKMNP-TV-Z]{26}")


def valid_batch_id(value: str) -> bool:
    """Whether `value` has the shape `batch_id` makes: checked before an id from a caller reaches a query, since a
    database may refuse what it cannot store (PostgreSQL: a NUL byte) with an error rather than no row."""
    return _BATCH_ID.fullmatch(value) is not None


def item_request_id(batch: str, position: int) -> str:
    """The request id of an item's call, the same however often it runs: its ledger row is keyed by it."""
    digest = hashlib.blake2b(f"{batch}/{position}".encode(), digest_size=12).hexdigest()
    return f"req_{digest}"
