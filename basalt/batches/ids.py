"""Ids that sort by creation time (so listing newest first is ordering by id), and items' fixed request ids."""

from __future__ import annotations

import hashlib
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


def item_request_id(batch: str, position: int) -> str:
    """The request id of an item's call, the same however often it runs: its ledger row is keyed by it."""
    digest = hashlib.blake2b(f"{batch}/{position}".encode(), digest_size=12).hexdigest()
    return f"req_{digest}"
