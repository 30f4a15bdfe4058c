"""AWS-style access key pairs for Basalt keys, so SigV4-signing clients (boto3, AnthropicBedrock) can call the Bedrock
dialect with a Basalt key's scopes, limits and budgets.

An access key id reads `BSLT` + 16 base32 characters (20 in all, like AWS's `AKIA...`), a secret access key 40
URL-safe characters (240 bits). The id is stored in clear (it is an id, and finds the row); the secret sealed under
the server key (sealing.py), shown once and never logged. A pair belongs to one key: revoking or expiring the key ends
the pair too.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass

from .records import ApiKey
from .sealing import SecretBox
from .store import Store

PREFIX = "BSLT"
_ID = re.compile(PREFIX + r"[A-Z2-7]{16}")


@dataclass(frozen=True)
class AccessKeyPair:
    key_id: str  # the Basalt key it acts for
    access_key_id: str
    secret_access_key: str

    def public(self) -> dict[str, str]:
        """The pair as the admin API shows it, once, when it is made."""
        return {
            "key_id": self.key_id,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }


def generate() -> tuple[str, str]:
    """A new (access key id, secret access key)."""
    return PREFIX + base64.b32encode(secrets.token_bytes(10)).decode(), secrets.token_urlsafe(30)


def well_formed(access_key_id: str) -> bool:
    """Whether an id could be one Basalt issued (others are refused without a database read)."""
    return _ID.fullmatch(access_key_id) is not None


def unusable(key: ApiKey) -> str | None:
    """Why a key cannot get a new pair, if it cannot."""
    if key.revoked_at is not None:
        return f"API key {key.id} has been revoked"
    if key.expires_at is not None and key.expires_at <= time.time():
        return f"API key {key.id} has expired"
    return None


async def issue(store: Store, box: SecretBox, key: ApiKey) -> AccessKeyPair:
    """A new pair for `key`, its secret stored sealed."""
    for _ in range(5):  # 80 random bits: a collision is all but impossible, and then the next id is taken
        access_key_id, secret = generate()
        if await store.add_access_key(key.id, access_key_id, box.seal(secret, access_key_id)):
            return AccessKeyPair(key.id, access_key_id, secret)
    raise RuntimeError("could not find a free access key id")
