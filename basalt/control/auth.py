"""Authentication: the caller's key, from `x-api-key` (Anthropic) or `Authorization: Bearer` (OpenAI).

Checked keys are cached for `cache_seconds`, so a busy server reads each key from the database about once a second;
that is also how long a revocation takes to reach every replica. The secret is compared on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from ..errors import AuthenticationFailed
from . import keys
from .principal import Principal
from .records import ApiKey, Project

Lookup = Callable[[str], Awaitable[tuple[ApiKey, str, Project | None] | None]]
ANONYMOUS = Principal()


def credential(headers: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, value = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class Authenticator:
    def __init__(self, enabled: bool, lookup: Lookup, cache_seconds: float = 1.0) -> None:
        self.enabled = enabled
        self.lookup = lookup
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, tuple[ApiKey, str, Project | None] | None]] = {}
        self._pending: dict[
            tuple[asyncio.AbstractEventLoop, str], asyncio.Future[tuple[ApiKey, str, Project | None] | None]
        ] = {}

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        given = credential(headers)
        if given is None:
            raise AuthenticationFailed(
                "Missing API key: send it in the x-api-key header or as Authorization: Bearer <key>."
            )
        parts = keys.split(given)
        found = await self._find(parts[0]) if parts else None
        if parts is None or found is None or not keys.matches(parts[1], found[1]):
            raise AuthenticationFailed("Invalid API key.")
        key, _, project = found
        if key.revoked_at is not None:
            raise AuthenticationFailed(f"API key {key.id} has been revoked.")
        if key.expires_at is not None and key.expires_at <= time.time():
            expired = datetime.fromtimestamp(key.expires_at, UTC).isoformat()
            raise AuthenticationFailed(f"API key {key.id} expired at {expired}.")
        return Principal(key, project)

    async def _find(self, key_id: str) -> tuple[ApiKey, str, Project | None] | None:
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        slot = (asyncio.get_running_loop(), key_id)
        pending = self._pending.get(slot)
        if pending is None:  # one database read per key however many requests arrive while it runs
            pending = self._pending[slot] = asyncio.ensure_future(self.lookup(key_id))
            pending.add_done_callback(lambda _: self._pending.pop(slot, None))
        found = await asyncio.shield(pending)
        if len(self._cache) > 100_000:  # unknown ids are cached too; keep a flood of them from growing the map
            self._cache.clear()
        self._cache[key_id] = (time.monotonic() + self.cache_seconds, found)
        return found

    def forget(self, key_id: str) -> None:
        """Drop a cached key on this replica at once (the others notice within cache_seconds)."""
        self._cache.pop(key_id, None)
