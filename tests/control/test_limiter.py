"""The limit counters, in memory and in Redis: token buckets, concurrency slots and spend counters.

Every behaviour runs against both implementations. The Redis ones need a server at BASALT_TEST_REDIS_URL (default
the local one), which CI machines run, and fail without it; each test works under its own key prefix and deletes
its keys afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis

from basalt.control.limiter import Bucket, Limiter, MemoryLimiter, RedisLimiter

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("BASALT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Make = Callable[[], Limiter]
Scenario = Callable[[Limiter], Awaitable[None]]


@pytest.fixture(scope="module")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()  # no Redis is a failure, not a skip: the shared limiter is untested without one
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = f"basalt-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Make:
    if request.param == "memory":
        return MemoryLimiter
    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("prefix")
    return lambda: RedisLimiter(url, prefix)


def run(make: Make, scenario: Scenario) -> None:
    async def main() -> None:
        limiter = make()
        try:
            await scenario(limiter)
        finally:
            await limiter.close()

    asyncio.run(main())


async def probe(limiter: Limiter, name: str, limit: float) -> float:
    """A bucket's remaining tokens, read by asking for none."""
    decision = await limiter.acquire([Bucket(name, limit, 0)])
    return decision.buckets[0].remaining


# Token buckets


def test_allows_up_to_the_limit_then_denies_until_a_token_refills(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        five = [Bucket("k:rpm", 5, 1)]  # a token every 12 s
        for _ in range(5):
            assert (await limiter.acquire(five)).allowed
        denied = await limiter.acquire(five)
        assert not denied.allowed
        assert denied.retry_after is not None and 11 < denied.retry_after <= 12
        (state,) = denied.buckets
        assert state.name == "k:rpm" and state.limit == 5
        assert state.remaining == pytest.approx(0, abs=0.1)
        assert state.reset_seconds == pytest.approx(60, abs=1)

    run(make, scenario)


def test_reports_remaining_and_the_time_until_full(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        decision = await limiter.acquire([Bucket("k:tpm", 60, 10)])
        assert decision.allowed and decision.retry_after is None
        (state,) = decision.buckets
        assert state.remaining == pytest.approx(50, abs=0.01)
        assert state.reset_seconds == pytest.approx(10, abs=0.01)
        untouched = await limiter.acquire([Bucket("k:other", 60, 0)])
        assert untouched.buckets[0].remaining == 60 and untouched.buckets[0].reset_seconds == 0

    run(make, scenario)


def test_refills_continuously(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        assert (await limiter.acquire([Bucket("k:fast", 600, 600)])).allowed  # 10 tokens a second
        denied = await limiter.acquire([Bucket("k:fast", 600, 1)])
        assert not denied.allowed
        assert denied.retry_after is not None and 0 < denied.retry_after <= 0.1
        await asyncio.sleep(denied.retry_after + 0.05)
        assert (await limiter.acquire([Bucket("k:fast", 600, 1)])).allowed

    run(make, scenario)


def test_takes_from_every_bucket_or_from_none(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        wide, narrow = "k:wide", "k:narrow"
        assert (await limiter.acquire([Bucket(wide, 60, 10), Bucket(narrow, 6, 6)])).allowed
        denied = await limiter.acquire([Bucket(wide, 60, 10), Bucket(narrow, 6, 1)])
        assert not denied.allowed
        # Only the narrow bucket is short: a token every 10 s.
        assert denied.retry_after is not None and 9 < denied.retry_after <= 10
        assert await probe(limiter, wide, 60) == pytest.approx(50, abs=0.5)
        assert (await limiter.acquire([Bucket(wide, 60, 50)])).allowed

    run(make, scenario)


def test_a_cost_above_the_limit_is_denied_without_retry_and_takes_nothing(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        denied = await limiter.acquire([Bucket("k:a", 10, 5), Bucket("k:b", 10, 11)])
        assert not denied.allowed and denied.retry_after is None
        assert [state.remaining for state in denied.buckets] == [10, 10]
        assert (await limiter.acquire([Bucket("k:a", 10, 10)])).allowed

    run(make, scenario)


def test_adjust_refunds_up_to_the_limit(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        assert (await limiter.acquire([Bucket("k:tpm", 600, 600)])).allowed
        await limiter.adjust("k:tpm", 600, 100)
        assert await probe(limiter, "k:tpm", 600) == pytest.approx(100, abs=2)
        await limiter.adjust("k:tpm", 600, 10_000)
        full = (await limiter.acquire([Bucket("k:tpm", 600, 0)])).buckets[0]
        assert full.remaining == 600 and full.reset_seconds == 0

    run(make, scenario)


def test_adjust_takes_more_into_a_debt_that_refills(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        await limiter.adjust("k:tpm", 600, -1200)  # an untouched bucket is full: 600 - 1200 = -600
        denied = await limiter.acquire([Bucket("k:tpm", 600, 1)])
        assert not denied.allowed
        assert denied.retry_after == pytest.approx(60.1, abs=0.5)
        (state,) = denied.buckets
        assert state.remaining == 0
        assert state.reset_seconds == pytest.approx(120, abs=0.5)

    run(make, scenario)


def test_a_zero_limit_admits_nothing_and_settles_nothing(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        denied = await limiter.acquire([Bucket("k:off", 0, 1)])
        assert not denied.allowed and denied.retry_after is None
        await limiter.adjust("k:off", 0, -5)
        await limiter.adjust("k:off", 0, 5)
        probed = await limiter.acquire([Bucket("k:off", 0, 0)])
        assert probed.allowed and probed.buckets[0].remaining == 0 and probed.buckets[0].reset_seconds == 0

    run(make, scenario)


# Concurrency slots


def test_slots_admit_up_to_the_limit_and_free_on_leave(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        assert await limiter.enter("k:conc", 2, "one")
        assert await limiter.enter("k:conc", 2, "two")
        assert not await limiter.enter("k:conc", 2, "three")
        assert await limiter.enter("k:conc", 2, "one")  # renewing a held lease takes no new slot
        await limiter.leave("k:conc", "one")
        await limiter.leave("k:conc", "never-entered")
        await limiter.leave("k:unknown", "one")
        assert await limiter.enter("k:conc", 2, "three")
        assert not await limiter.enter("k:conc", 2, "four")

    run(make, scenario)


def test_a_lease_never_left_expires_after_its_ttl(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        assert await limiter.enter("k:conc", 1, "crashed", ttl=0.2)
        assert not await limiter.enter("k:conc", 1, "next")
        await asyncio.sleep(0.3)
        assert await limiter.enter("k:conc", 1, "next")

    run(make, scenario)


# Spend counters


def test_spend_adds_reads_and_seeds_only_when_absent(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        await limiter.add_spend(["s:key", "s:tenant"], 0.25, 60)
        await limiter.add_spend(["s:key"], 0.5, 60)
        assert await limiter.get_spend(["s:key", "s:tenant", "s:none"]) == pytest.approx([0.75, 0.25, 0.0])
        await limiter.seed_spend("s:key", 10.0, 60)
        await limiter.seed_spend("s:fresh", 3.5, 60)
        await limiter.add_spend(["s:fresh"], -0.5, 60)  # a refund of a reservation
        assert await limiter.get_spend(["s:key", "s:fresh"]) == pytest.approx([0.75, 3.0])
        assert await limiter.get_spend([]) == []

    run(make, scenario)


def test_spend_counters_expire(make: Make) -> None:
    async def scenario(limiter: Limiter) -> None:
        await limiter.add_spend(["s:added"], 1.0, 0.2)
        await limiter.seed_spend("s:seeded", 2.0, 0.2)
        await asyncio.sleep(0.3)
        assert await limiter.get_spend(["s:added", "s:seeded"]) == [0.0, 0.0]
        await limiter.seed_spend("s:seeded", 4.0, 60)
        assert await limiter.get_spend(["s:seeded"]) == [4.0]

    run(make, scenario)


# In memory only


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_refill_is_exact_with_a_fake_clock() -> None:
    clock = Clock()

    async def scenario(limiter: Limiter) -> None:
        assert (await limiter.acquire([Bucket("k", 60, 60)])).allowed
        clock.now += 2.5
        (state,) = (await limiter.acquire([Bucket("k", 60, 1)])).buckets
        assert state.remaining == 1.5 and state.reset_seconds == 58.5
        clock.now += 1000
        assert await probe(limiter, "k", 60) == 60

    run(lambda: MemoryLimiter(clock), scenario)


def test_memory_drops_idle_state() -> None:
    clock = Clock()
    limiter = MemoryLimiter(clock)

    async def scenario(limiter: Limiter) -> None:
        assert (await limiter.acquire([Bucket("k:idle", 60, 30), Bucket("k:debt", 60, 60)])).allowed
        await limiter.adjust("k:debt", 60, -600)
        assert await limiter.enter("c", 1, "lease", ttl=10)
        await limiter.add_spend(["s"], 1.0, ttl=10)
        clock.now += MemoryLimiter.SWEEP_SECONDS
        assert (await limiter.acquire([Bucket("k:new", 60, 1)])).allowed  # triggers the sweep

    run(lambda: limiter, scenario)
    assert set(limiter._buckets) == {"k:debt", "k:new"}
    assert not limiter._slots and not limiter._spend


def test_memory_is_shared_safely_by_loops_in_several_threads() -> None:
    limiter = MemoryLimiter(Clock())  # a frozen clock: no refill, so exactly the limit is admitted
    admitted: list[int] = []

    def replica() -> None:
        async def hammer() -> int:
            return sum([(await limiter.acquire([Bucket("shared", 4000, 1)])).allowed for _ in range(2000)])

        admitted.append(asyncio.run(hammer()))

    threads = [threading.Thread(target=replica) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so that a race would show
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert sum(admitted) == 4000


# In Redis only


def test_redis_keys_expire_when_idle(redis_url: str, prefix: str) -> None:
    async def scenario(limiter: Limiter) -> None:
        await limiter.acquire([Bucket("k:tpm", 60, 30)])  # full again in 30 s
        await limiter.enter("k:conc", 1, "lease", ttl=5)
        await limiter.add_spend(["day"], 1.0, 10)
        await limiter.add_spend(["day"], 1.0, 1000)  # the first add set the expiry; later ones keep it

    run(lambda: RedisLimiter(redis_url, prefix), scenario)
    client = redis.Redis.from_url(redis_url)
    try:
        assert 29_000 < client.pttl(f"{prefix}b:k:tpm") <= 31_000
        assert 4_000 < client.pttl(f"{prefix}c:k:conc") <= 5_000
        assert 9_000 < client.pttl(f"{prefix}s:day") <= 10_000
    finally:
        client.close()


def test_redis_full_buckets_leave_no_key(redis_url: str, prefix: str) -> None:
    async def scenario(limiter: Limiter) -> None:
        await limiter.acquire([Bucket("k:tpm", 60, 30)])
        await limiter.adjust("k:tpm", 60, 30)
        await limiter.acquire([Bucket("k:probe", 60, 0)])

    run(lambda: RedisLimiter(redis_url, prefix), scenario)
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{prefix}*")) == []
    finally:
        client.close()


# Each replica process: connect and load the script, say ready, wait for "go", then hammer the shared bucket with
# ten requests in flight for HAMMER_SECONDS and report what it was admitted and when it started and stopped.
REPLICA = """
import asyncio, json, sys, time
from basalt.control.limiter import Bucket, RedisLimiter

async def main(url, prefix, seconds):
    limiter = RedisLimiter(url, prefix)
    await limiter.acquire([Bucket("warm-up", 1, 0)])
    print("ready", flush=True)
    sys.stdin.readline()
    shared = [Bucket("shared", 100, 1)]
    admitted = attempts = 0
    first = time.time()
    while time.time() - first < seconds:
        decisions = await asyncio.gather(*(limiter.acquire(shared) for _ in range(10)))
        admitted += sum(d.allowed for d in decisions)
        attempts += len(decisions)
    last = time.time()
    await limiter.close()
    print(json.dumps({"admitted": admitted, "attempts": attempts, "first": first, "last": last}), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""
HAMMER_SECONDS = 1.0


def test_two_replica_processes_share_one_bucket(redis_url: str, prefix: str) -> None:
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, redis_url, prefix, str(HAMMER_SECONDS)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for replica in replicas:
            assert replica.stdout is not None and replica.stdout.readline().strip() == "ready"
        started = time.monotonic()
        for replica in replicas:
            assert replica.stdin is not None
            replica.stdin.write("go\n")
            replica.stdin.flush()
        reports = [json.loads(replica.communicate(timeout=60)[0]) for replica in replicas]
        elapsed = time.monotonic() - started
    finally:
        for replica in replicas:
            replica.kill()

    admitted = sum(report["admitted"] for report in reports)
    assert sum(report["attempts"] for report in reports) > 200
    assert max(r["first"] for r in reports) < min(r["last"] for r in reports), "the replicas did not overlap"
    # The bucket starts full; beyond its 100 tokens only what refilled while they ran may be admitted.
    assert 100 <= admitted <= 100 + elapsed * 100 / 60
