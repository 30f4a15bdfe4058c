"""Limit counters: per-minute token buckets, concurrency slots and spend counters, in memory or in Redis.

A bucket holds up to `limit` tokens and refills continuously at `limit / 60` per second, as Anthropic's rate limits
do. A bucket nobody has touched is full, so absent state means "full" everywhere: idle buckets cost nothing and
Redis keys may expire as soon as their bucket would be full again.

`MemoryLimiter` serves one process. No method awaits mid-update, so one event loop needs no lock; it takes a cheap
uncontended one anyway, because a process may run several loops in threads (the in-process transport does) and share
one limiter among them.
`RedisLimiter` shares state between processes and replicas; each call that reads and writes runs as one Lua script
(EVALSHA), so it is atomic and costs one round trip.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

SECONDS_PER_MINUTE = 60.0


# These types are built on every request, so they are not frozen: a frozen dataclass takes about four times
# as long to construct, and each is fresh and owned by its caller anyway.


@dataclass(slots=True)
class Bucket:
    """One bucket to draw from: `limit` tokens per minute (0 admits nothing), `cost` tokens wanted now (>= 0)."""

    name: str
    limit: float
    cost: float


@dataclass(slots=True)
class BucketState:
    """A bucket after a decision, enough to render the rate-limit response headers.

    `remaining` is never below zero, though a bucket in debt holds fewer; `reset_seconds` counts the debt too.
    """

    name: str
    limit: float
    remaining: float
    reset_seconds: float


@dataclass(slots=True)
class Decision:
    """The answer to `acquire`.

    Denied with `retry_after` None means the request alone asks more than some bucket's limit: waiting won't help.
    """

    allowed: bool
    retry_after: float | None
    buckets: tuple[BucketState, ...]


class Limiter(Protocol):
    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        """Take each bucket's cost from all of them, or from none; bucket names must be distinct."""
        ...

    async def adjust(self, bucket_name: str, limit: float, amount: float) -> None:
        """Give tokens back (amount > 0, up to the limit) or take more (amount < 0, possibly into debt)."""
        ...

    async def enter(self, name: str, limit: int, lease: str, ttl: float = 900) -> bool:
        """Take one of `limit` slots under `lease` for at most `ttl` seconds; entering again renews the lease."""
        ...

    async def leave(self, name: str, lease: str) -> None: ...

    async def add_spend(self, names: Sequence[str], amount: float, ttl: float) -> None:
        """Add to each counter; `ttl` applies when a counter is created, so a period's counter dies with it."""
        ...

    async def get_spend(self, names: Sequence[str]) -> list[float]: ...

    async def seed_spend(self, name: str, amount: float, ttl: float) -> None:
        """Set a counter only if it is absent, as when restoring it from the ledger."""
        ...

    async def close(self) -> None: ...


def _rate(limit: float) -> float:
    return limit / SECONDS_PER_MINUTE


def _retry_after(buckets: Sequence[Bucket], levels: Sequence[float]) -> float | None:
    """Seconds until every bucket holds its cost, from the levels the denial saw; None if it never will."""
    wait = 0.0
    for bucket, level in zip(buckets, levels, strict=True):
        if bucket.cost > bucket.limit:
            return None
        if level < bucket.cost:
            wait = max(wait, (bucket.cost - level) / _rate(bucket.limit))
    return wait


def _decide(buckets: Sequence[Bucket], allowed: bool, levels: Sequence[float]) -> Decision:
    """A Decision from the bucket levels after the call (unchanged when denied)."""
    states = tuple(
        BucketState(
            bucket.name,
            bucket.limit,
            level if level > 0.0 else 0.0,
            (bucket.limit - level) * SECONDS_PER_MINUTE / bucket.limit if level < bucket.limit else 0.0,
        )
        for bucket, level in zip(buckets, levels, strict=True)
    )
    return Decision(allowed, None if allowed else _retry_after(buckets, levels), states)


# ---------------------------------------------------------------------------------------------------------------------
# In memory


class MemoryLimiter:
    """Limits for one process. `clock` is monotonic seconds; tests pass their own."""

    # Idle state is dropped this often, so the maps stay as small as the set of recently active names.
    SWEEP_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, float]] = {}  # name -> (tokens, at, limit)
        self._slots: dict[str, dict[str, float]] = {}  # name -> lease -> expires at
        self._spend: dict[str, tuple[float, float]] = {}  # name -> (amount, expires at)
        self._next_sweep = clock() + self.SWEEP_SECONDS
        self._lock = threading.Lock()

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        with self._lock:
            return self._acquire(buckets)

    async def adjust(self, bucket_name: str, limit: float, amount: float) -> None:
        if limit <= 0:
            return  # a bucket that never refills admits nothing, so there is nothing to settle
        with self._lock:
            now = self._clock()
            self._store(bucket_name, limit, min(limit, self._level(bucket_name, limit, now) + amount), now)

    async def enter(self, name: str, limit: int, lease: str, ttl: float = 900) -> bool:
        with self._lock:
            return self._enter(name, limit, lease, ttl)

    async def leave(self, name: str, lease: str) -> None:
        with self._lock:
            leases = self._slots.get(name)
            if leases is not None:
                leases.pop(lease, None)
                if not leases:
                    del self._slots[name]

    async def add_spend(self, names: Sequence[str], amount: float, ttl: float) -> None:
        with self._lock:
            now = self._clock()
            for name in names:
                total, expires = self._live_spend(name, now) or (0.0, now + ttl)
                self._spend[name] = (total + amount, expires)

    async def get_spend(self, names: Sequence[str]) -> list[float]:
        with self._lock:
            now = self._clock()
            return [(self._live_spend(name, now) or (0.0, 0.0))[0] for name in names]

    async def seed_spend(self, name: str, amount: float, ttl: float) -> None:
        with self._lock:
            now = self._clock()
            if self._live_spend(name, now) is None:
                self._spend[name] = (amount, now + ttl)

    async def close(self) -> None:
        return None

    def _acquire(self, buckets: Sequence[Bucket]) -> Decision:
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        levels: list[float] = []
        allowed = True
        for bucket in buckets:
            level = self._level(bucket.name, bucket.limit, now)
            allowed = allowed and bucket.cost <= level and bucket.cost <= bucket.limit
            levels.append(level)
        if allowed:
            for i, bucket in enumerate(buckets):
                levels[i] -= bucket.cost
                self._store(bucket.name, bucket.limit, levels[i], now)
        return _decide(buckets, allowed, levels)

    def _enter(self, name: str, limit: int, lease: str, ttl: float) -> bool:
        now = self._clock()
        leases = self._slots.setdefault(name, {})
        if lease not in leases and len(leases) >= limit:
            # Expired leases (of crashed requests) only matter when they would keep a slot taken: prune then.
            for held, expires in list(leases.items()):
                if expires <= now:
                    del leases[held]
        if lease not in leases and len(leases) >= limit:
            return False
        leases[lease] = now + ttl
        return True

    def _level(self, name: str, limit: float, now: float) -> float:
        state = self._buckets.get(name)
        if state is None:
            return limit
        # The current limit sets the refill rate, so a changed limit takes effect at once.
        level = state[0] + (now - state[1]) * limit / SECONDS_PER_MINUTE
        return level if level < limit else limit

    def _store(self, name: str, limit: float, level: float, now: float) -> None:
        if level < limit:
            self._buckets[name] = (level, now, limit)
        else:
            self._buckets.pop(name, None)  # full is the same as absent

    def _live_spend(self, name: str, now: float) -> tuple[float, float] | None:
        entry = self._spend.get(name)
        if entry is None or entry[1] > now:
            return entry
        del self._spend[name]
        return None

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_SECONDS
        self._buckets = {name: state for name, state in self._buckets.items() if not _full(state, now)}
        self._spend = {name: entry for name, entry in self._spend.items() if entry[1] > now}
        for name, leases in list(self._slots.items()):
            live = {lease: expires for lease, expires in leases.items() if expires > now}
            if live:
                self._slots[name] = live
            else:
                del self._slots[name]


def _full(state: tuple[float, float, float], now: float) -> bool:
    tokens, at, limit = state
    return tokens + (now - at) * _rate(limit) >= limit


# ---------------------------------------------------------------------------------------------------------------------
# In Redis
#
# Every script reads the clock with TIME on the Redis server rather than taking the caller's: replicas' clocks drift
# apart, and a replica running ahead would credit refills that haven't happened (one behind, the reverse), so one
# bucket shared by several replicas would be as generous as the fastest clock. One server clock makes every replica
# see the same time. Redis 7 replicates scripts by their effects, so TIME is allowed in a script that writes. Elapsed
# time is clamped at zero in case a failover lands on a server whose clock is behind.
#
# Scripts return numbers as strings: Redis would truncate a Lua number to an integer.

_LUA_HEAD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# The level of a bucket whose state is at `key`, read at `now`; a missing key is a full bucket.
_LUA_LEVEL = """
local function level(key, limit, now)
  local s = redis.call('HMGET', key, 'tokens', 'at')
  if not s[1] then return limit end
  local elapsed = math.max(0, now - tonumber(s[2]))
  return math.min(limit, tonumber(s[1]) + elapsed * limit / 60)
end

local function store(key, limit, tokens, now)
  if tokens >= limit then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
  -- Once full the bucket equals a missing key, so the key lives until then, plus a second for slack.
  redis.call('PEXPIRE', key, math.ceil((limit - tokens) * 60000 / limit) + 1000)
end
"""

# KEYS: the buckets. ARGV: limit and cost of each, in turn. Returns: allowed (1/0), then each level after the call.
_ACQUIRE = (
    _LUA_HEAD
    + _LUA_LEVEL
    + """
local levels = {}
local allowed = 1
for i, key in ipairs(KEYS) do
  local limit, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  levels[i] = level(key, limit, now)
  if cost > limit or levels[i] < cost then allowed = 0 end
end
local reply = {allowed}
for i, key in ipairs(KEYS) do
  if allowed == 1 then
    local limit, cost = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
    levels[i] = levels[i] - cost
    store(key, limit, levels[i], now)
  end
  reply[i + 1] = string.format('%.17g', levels[i])
end
return reply
"""
)

# KEYS: the bucket. ARGV: limit, amount.
_ADJUST = (
    _LUA_HEAD
    + _LUA_LEVEL
    + """
local limit, amount = tonumber(ARGV[1]), tonumber(ARGV[2])
store(KEYS[1], limit, math.min(limit, level(KEYS[1], limit, now) + amount), now)
"""
)

# KEYS: the slots' sorted set, leases scored by expiry. ARGV: limit, lease, ttl in ms. Returns 1 if entered.
_ENTER = (
    _LUA_HEAD
    + """
local key, limit, lease, ttl = KEYS[1], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local now_ms = math.floor(now * 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
if not redis.call('ZSCORE', key, lease) and redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now_ms + ttl, lease)
-- The set lives as long as its longest lease, so a crashed process's leases vanish with it.
if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
return 1
"""
)

# KEYS: the counters. ARGV: amount, ttl in ms.
_ADD_SPEND = """
for _, key in ipairs(KEYS) do
  redis.call('INCRBYFLOAT', key, ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2], 'NX')
end
"""


class RedisLimiter:
    """Limits shared through Redis by every process that uses the same `url` and `prefix`."""

    def __init__(self, url: str, prefix: str = "basalt:") -> None:
        # Imported here so that a process using only the in-memory limiter never loads the Redis client.
        from redis.asyncio import Redis

        self._redis: Redis = Redis.from_url(url)
        self._prefix = prefix
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._adjust = self._redis.register_script(_ADJUST)
        self._enter = self._redis.register_script(_ENTER)
        self._add_spend = self._redis.register_script(_ADD_SPEND)

    async def acquire(self, buckets: Sequence[Bucket]) -> Decision:
        keys = [self._key("b", bucket.name) for bucket in buckets]
        args = [number for bucket in buckets for number in (bucket.limit, bucket.cost)]
        reply = await self._acquire(keys=keys, args=args)
        return _decide(buckets, reply[0] == 1, [float(level) for level in reply[1:]])

    async def adjust(self, bucket_name: str, limit: float, amount: float) -> None:
        if limit <= 0:
            return  # a bucket that never refills admits nothing, so there is nothing to settle
        await self._adjust(keys=[self._key("b", bucket_name)], args=[limit, amount])

    async def enter(self, name: str, limit: int, lease: str, ttl: float = 900) -> bool:
        entered = await self._enter(keys=[self._key("c", name)], args=[limit, lease, _ms(ttl)])
        return bool(entered == 1)

    async def leave(self, name: str, lease: str) -> None:
        await self._redis.zrem(self._key("c", name), lease)

    async def add_spend(self, names: Sequence[str], amount: float, ttl: float) -> None:
        await self._add_spend(keys=[self._key("s", name) for name in names], args=[amount, _ms(ttl)])

    async def get_spend(self, names: Sequence[str]) -> list[float]:
        if not names:
            return []
        values = await self._redis.mget([self._key("s", name) for name in names])
        return [0.0 if value is None else float(value) for value in values]

    async def seed_spend(self, name: str, amount: float, ttl: float) -> None:
        await self._redis.set(self._key("s", name), amount, px=_ms(ttl), nx=True)

    async def close(self) -> None:
        await self._redis.aclose()

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"


def _ms(seconds: float) -> int:
    # Redis rejects an expiry of zero; a lease or counter asked for always lives at least a millisecond.
    return max(1, math.ceil(seconds * 1000))
