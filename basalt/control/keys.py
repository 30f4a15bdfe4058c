"""API key format, generation and verification.

A key reads `bsk_<id>_<secret>`: the id finds the row, the secret is checked against its SHA-256 with a timing-safe
comparison. The secret has 192 bits of entropy, so a fast hash is safe here (a slow one would only slow every request);
the key itself is never stored and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "bsk_"


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"


def generate() -> tuple[str, str, str]:
    """A new key: (key id, the full key to show once, the hash to store)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(24)
    return f"key_{key_id}", f"{PREFIX}{key_id}_{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    if not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or len(key_id) != 16 or not secret:
        return None
    return f"key_{key_id}", secret


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def hint(key: str) -> str:
    return "..." + key[-4:]
