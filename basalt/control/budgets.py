"""Spend limits per key and project, per UTC day and month, kept as counters beside the rate limits.

A counter holds what was spent plus what open requests have reserved; it is seeded from the ledger the first time a
process (or a Redis that lost its data) needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..errors import BudgetExceeded
from .limiter import Limiter
from .principal import Principal
from .records import ApiKey, Project
from .store import Store

DAY_TTL = 2 * 86400.0
MONTH_TTL = 33 * 86400.0


@dataclass(frozen=True)
class Budget:
    counter: str  # limiter spend-counter name
    limit: float
    owner: str  # "key" or "project", for messages and the ledger column
    ref: str
    period: str  # "daily" or "monthly"
    since: float  # period start (Unix seconds)
    resets_at: datetime
    ttl: float


_recent: dict[tuple[int, int], tuple[ApiKey | None, Project | None, date, tuple[Budget, ...]]] = {}


def budgets(principal: Principal, now: datetime) -> tuple[Budget, ...]:
    """The same for every request of a key on a day: remembered for the key and project records the key cache hands
    out (frozen, and replaced when reloaded), so the dates are worked out once per reload and day, not per request."""
    key, project, today = principal.key, principal.project, now.date()
    slot = (id(key), id(project))
    hit = _recent.get(slot)
    if hit is not None and hit[0] is key and hit[1] is project and hit[2] == today:
        return hit[3]
    if len(_recent) > 10_000:
        _recent.clear()
    found = _budgets(key, project, today)
    _recent[slot] = (key, project, today, found)
    return found


def _budgets(key: ApiKey | None, project: Project | None, today: date) -> tuple[Budget, ...]:
    records = [r.limits for r in (key, project) if r is not None]
    if not any(x.daily_budget_usd is not None or x.monthly_budget_usd is not None for x in records):
        return ()
    day = datetime(today.year, today.month, today.day, tzinfo=UTC)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    out: list[Budget] = []
    owners: list[tuple[str, ApiKey | Project | None]] = [("key", key), ("project", project)]
    for owner, record in owners:
        if record is None:
            continue
        limits = record.limits
        for period, limit, start, end, ttl in (
            ("daily", limits.daily_budget_usd, day, day + timedelta(days=1), DAY_TTL),
            ("monthly", limits.monthly_budget_usd, month, next_month, MONTH_TTL),
        ):
            if limit is None:
                continue
            stamp = start.strftime("%Y-%m-%d" if period == "daily" else "%Y-%m")
            counter = f"spend:{owner}:{record.id}:{stamp}"
            out.append(Budget(counter, limit, owner, record.id, period, start.timestamp(), end, ttl))
    return tuple(out)


class BudgetBook:
    """Checks and charges budgets; remembers which counters this process has seeded from the ledger."""

    def __init__(self, limiter: Limiter, store: Store) -> None:
        self.limiter = limiter
        self.store = store
        self._seeded: set[str] = set()

    async def check(self, items: Sequence[Budget], cost: float) -> None:
        if not items:
            return
        for budget in items:
            if budget.counter not in self._seeded:
                so_far = await self.store.spend_since(f"{budget.owner}_id", budget.ref, budget.since)
                await self.limiter.seed_spend(budget.counter, so_far, budget.ttl)
                self._seeded.add(budget.counter)
        spent = await self.limiter.get_spend([b.counter for b in items])
        for budget, amount in zip(items, spent, strict=True):
            if amount + cost > budget.limit:
                raise BudgetExceeded(
                    f"The {budget.period} budget of {budget.owner} {budget.ref} is spent: ${amount:.4f} of "
                    f"${budget.limit:.2f} used or reserved, and this request may cost up to ${cost:.4f}. "
                    f"It resets at {budget.resets_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}.",
                    owner=budget.owner,
                    period=budget.period,
                )

    async def charge(self, items: Sequence[Budget], amount: float) -> None:
        by_ttl: dict[float, list[str]] = {}  # one limiter call (one Redis round trip) per expiry, not per counter
        for budget in items:
            by_ttl.setdefault(budget.ttl, []).append(budget.counter)
        for ttl, counters in by_ttl.items():
            await self.limiter.add_spend(counters, amount, ttl)
