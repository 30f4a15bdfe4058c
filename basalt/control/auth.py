"""Authentication: the caller's key, from `x-api-key` (Anthropic) or `Authorization: Bearer` (OpenAI, Bedrock API
keys), or an AWS-style access key pair's SigV4 signature (the Bedrock dialect).

Checked keys, and the opened secrets of access key pairs, are cached for `cache_seconds`, so a busy server reads
each from the database about once a second; that is also how long a revocation takes to reach every replica. The
secret is compared, or the signature recomputed, on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Generic, TypeVar

from ..errors import AuthenticationFailed, SignatureRefused
from ..wire import sigv4
from . import aws_keys, keys
from .principal import Principal
from .records import ApiKey, Project

T = TypeVar("T")
Found = tuple[ApiKey, str, Project | None]  # a key, its secret's hash, its project
Lookup = Callable[[str], Awaitable[Found | None]]
# An access key id -> (the key id it acts for, its opened secret access key)
SecretLookup = Callable[[str], Awaitable[tuple[str, str] | None]]
ANONYMOUS = Principal()
MAX_CACHED = 100_000


def credential(headers: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Recent(Generic[T]):
    """Answers of a lookup by id, kept `seconds` (misses too), with one lookup per id at a time however many requests
    ask while it runs."""

    def __init__(self, lookup: Callable[[str], Awaitable[T]], seconds: float) -> None:
        self.lookup = lookup
        self.seconds = seconds
        self._cache: dict[str, tuple[float, T]] = {}
        self._pending: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[T]] = {}

    async def get(self, ref: str) -> T:
        hit = self._cache.get(ref)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        slot = (asyncio.get_running_loop(), ref)
        pending = self._pending.get(slot)
        if pending is None:
            pending = self._pending[slot] = asyncio.ensure_future(self.lookup(ref))
            pending.add_done_callback(lambda _: self._pending.pop(slot, None))
        found = await asyncio.shield(pending)
        if len(self._cache) > MAX_CACHED:  # unknown ids are cached too; keep a flood of them from growing the map
            self._cache.clear()
        self._cache[ref] = (time.monotonic() + self.seconds, found)
        return found

    def forget(self, ref: str) -> None:
        self._cache.pop(ref, None)


def unusable(key: ApiKey) -> str | None:
    """Why a key that exists may not call, if it may not."""
    if key.revoked_at is not None:
        return f"API key {key.id} has been revoked."
    if key.expires_at is not None and key.expires_at <= time.time():
        return f"API key {key.id} expired at {datetime.fromtimestamp(key.expires_at, UTC).isoformat()}."
    return None


async def _no_secrets(_: str) -> tuple[str, str] | None:
    return None


class Authenticator:
    def __init__(
        self, enabled: bool, lookup: Lookup, cache_seconds: float = 1.0, secrets: SecretLookup = _no_secrets
    ) -> None:
        self.enabled = enabled
        self.cache_seconds = cache_seconds
        self._keys = Recent(lookup, cache_seconds)
        self._secrets = Recent(secrets, cache_seconds)

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        given = credential(headers)
        if given is None:
            raise AuthenticationFailed(
                "Missing API key: send it in the x-api-key header or as Authorization: Bearer <key>."
            )
        parts = keys.split(given)
        found = await self._keys.get(parts[0]) if parts else None
        if parts is None or found is None or not keys.matches(parts[1], found[1]):
            raise AuthenticationFailed("Invalid API key.")
        key, _, project = found
        problem = unusable(key)
        if problem is not None:
            raise AuthenticationFailed(problem)
        return Principal(key, project)

    async def authenticate_sigv4(self, request: sigv4.SignedRequest, now: float | None = None) -> Principal:
        """The key behind a SigV4-signed request; every refusal is a SignatureRefused naming its AWS error type."""
        if not self.enabled:
            return ANONYMOUS
        claim = sigv4.read(request, time.time() if now is None else now)  # what needs no secret, first
        found = await self._secrets.get(claim.access_key) if aws_keys.well_formed(claim.access_key) else None
        if found is None:
            raise SignatureRefused(sigv4.UNRECOGNIZED, "UnrecognizedClientException")
        key_id, secret = found
        sigv4.verify(request, claim, secret)
        # Only a caller who holds the secret learns what is wrong with its key.
        record = await self._keys.get(key_id)
        if record is None:
            raise SignatureRefused(sigv4.UNRECOGNIZED, "UnrecognizedClientException")
        key, _, project = record
        problem = unusable(key)
        if problem is not None:
            raise SignatureRefused(f"{sigv4.UNRECOGNIZED} {problem}", "UnrecognizedClientException")
        return Principal(key, project)

    async def principal_of(self, key_id: str | None) -> Principal:
        """Who a key id stands for now, for work done later on a caller's behalf (a batch's items): a key deleted,
        revoked or expired since is an authentication error, as it would be on a request."""
        if not self.enabled or key_id is None:
            return ANONYMOUS
        found = await self._keys.get(key_id)
        if found is None:
            raise AuthenticationFailed(f"API key {key_id} no longer exists.")
        key, _, project = found
        problem = unusable(key)
        if problem is not None:
            raise AuthenticationFailed(problem)
        return Principal(key, project)

    def forget(self, key_id: str) -> None:
        """Drop a cached key on this replica at once (the others notice within cache_seconds); its access key pairs
        end with it, since each request through one checks the key."""
        self._keys.forget(key_id)
