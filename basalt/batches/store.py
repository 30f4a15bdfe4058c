"""The batch engine's queries: jobs and items in the control database, leased by workers of any replica.

Every change of an item is one conditional UPDATE that re-checks the state it expects (PostgreSQL re-evaluates the
WHERE of a row another transaction changed meanwhile; SQLite runs one writer at a time), so two workers can never
both take an item, and a result is written only by the holder of the item's current lease, and only once. A
transaction always touches items before their batch's row, so two of them never wait on each other in a cycle; it
writes before it reads, so SQLite never has to upgrade a read lock it shares.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ColumnElement

from .tables import batch_items, batches
from .types import FINAL, FINALIZED_KINDS, PHASES, BatchInfo, Counts, ItemResult

RESULTS_PAGE = 500
INSERT_CHUNK = 1000  # rows per INSERT: well under PostgreSQL's 65,535 bind parameters
COUNT_COLUMNS = ("processing", "succeeded", "errored", "canceled", "expired")
RUNNING = ("in_progress", "canceling")  # the statuses a batch has while its items run


@dataclass(frozen=True)
class Leased:
    """An item a worker holds: what it needs to run it."""

    batch_id: str
    position: int
    custom_id: str
    endpoint: str
    request: dict[str, Any] | None
    request_id: str
    key_id: str | None
    lease_id: str
    attempts: int


def _takeable(now: float) -> ColumnElement[bool]:
    """Items a worker may take: never started, or started by a holder whose lease has passed (it died, or the item
    waits out a rate limit's retry-after). An item with a result is never takeable again."""
    c = batch_items.c
    return or_(c.state == "queued", and_(c.state == "running", c.lease_expires < now))


def _unheld(now: float) -> ColumnElement[bool]:
    """Items nobody runs right now: what cancellation and expiry may end."""
    c = batch_items.c
    return or_(c.state == "queued", and_(c.state == "running", or_(c.lease_id.is_(None), c.lease_expires < now)))


class BatchStore:
    def __init__(self, db: Callable[[], AsyncEngine]) -> None:
        self._db = db  # the control plane's engine of the running event loop

    @property
    def db(self) -> AsyncEngine:
        return self._db()

    async def create(self, batch: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
        async with self.db.begin() as conn:
            await conn.execute(insert(batches).values(**batch))
            for start in range(0, len(items), INSERT_CHUNK):
                await conn.execute(insert(batch_items), list(items[start : start + INSERT_CHUNK]))

    async def get(self, batch_id: str) -> BatchInfo | None:
        async with self.db.connect() as conn:
            row = (await conn.execute(select(batches).where(batches.c.id == batch_id))).first()
        return info(row) if row is not None else None

    async def page(
        self, kind: str, owner: str | None, everyone: bool, limit: int, after_id: str | None, before_id: str | None
    ) -> tuple[list[BatchInfo], bool]:
        """Newest first; `after_id` pages towards older batches, `before_id` towards newer ones."""
        query = select(batches).where(batches.c.kind == kind)
        if not everyone:
            query = query.where(batches.c.owner.is_(None) if owner is None else batches.c.owner == owner)
        if before_id is not None:
            query = query.where(batches.c.id > before_id).order_by(batches.c.id.asc())
        else:
            if after_id is not None:
                query = query.where(batches.c.id < after_id)
            query = query.order_by(batches.c.id.desc())
        async with self.db.connect() as conn:
            rows = list((await conn.execute(query.limit(limit + 1))).all())
        more = len(rows) > limit
        found = [info(r) for r in rows[:limit]]
        return (found[::-1] if before_id is not None else found), more

    async def cancel(self, batch_id: str, now: float) -> None:
        """Unstarted items canceled at once; started ones finish (or are canceled once their lease passes). A batch
        still validating has no items yet: it ends at once (its validator's commit then finds it gone)."""
        async with self.db.begin() as conn:
            batch = batches.c
            await conn.execute(
                update(batches)
                .where(batch.id == batch_id, batch.status == "validating")
                .values(status="ended", cancel_initiated_at=now, ended_at=now, claim_id=None, claim_until=None)
            )
            marked = await conn.execute(
                update(batches)
                .where(batch.id == batch_id, batch.status == "in_progress")
                .values(status="canceling", cancel_initiated_at=now)
            )
            if marked.rowcount:
                await _end_unheld(conn, batch_id, "canceled", now)

    async def delete(self, batch_id: str) -> bool:
        async with self.db.begin() as conn:
            await conn.execute(delete(batch_items).where(batch_items.c.batch_id == batch_id))
            gone = await conn.execute(delete(batches).where(batches.c.id == batch_id, batches.c.status == "ended"))
        return bool(gone.rowcount)

    # Phases: one claim-holder at a time validates a batch's input or writes its outputs ------------------------

    async def pending(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(id, status) of batches in a phase that nobody holds (an index range scan on status)."""
        b = batches.c
        query = (
            select(b.id, b.status)
            .where(b.status.in_(PHASES), or_(b.claim_id.is_(None), b.claim_until < now))
            .order_by(b.id)
            .limit(limit)
        )
        async with self.db.connect() as conn:
            return [(r.id, r.status) for r in (await conn.execute(query)).all()]

    async def claim(self, batch_id: str, status: str, claim_id: str, now: float, until: float) -> BatchInfo | None:
        """Takes the batch's phase if it is still in it and nobody holds it (or its holder's claim has passed): one
        conditional UPDATE, so of two workers racing exactly one gets it. The batch as claimed, or None."""
        b = batches.c
        async with self.db.begin() as conn:
            taken = await conn.execute(
                update(batches)
                .where(b.id == batch_id, b.status == status, or_(b.claim_id.is_(None), b.claim_until < now))
                .values(claim_id=claim_id, claim_until=until)
            )
            if taken.rowcount != 1:
                return None
            row = (await conn.execute(select(batches).where(b.id == batch_id))).first()
        return info(row) if row is not None else None

    async def renew_claims(self, claim_ids: Sequence[str], until: float) -> None:
        if claim_ids:
            async with self.db.begin() as conn:
                await conn.execute(
                    update(batches).where(batches.c.claim_id.in_(list(claim_ids))).values(claim_until=until)
                )

    async def release(self, batch_id: str, claim_id: str, not_before: float) -> None:
        """Lets go of a phase that failed here, to be tried again (by anyone) from `not_before` on."""
        b = batches.c
        async with self.db.begin() as conn:
            await conn.execute(
                update(batches).where(b.id == batch_id, b.claim_id == claim_id).values(claim_until=not_before)
            )

    async def validated(
        self, batch_id: str, claim_id: str, rows: Sequence[dict[str, Any]], extra: dict[str, Any], now: float
    ) -> bool:
        """Ends validating with the batch's items (in_progress), or with none (ended: its input failed); in one
        transaction, and only while the claim is still this one. False: someone else has the batch now (or it was
        cancelled meanwhile), and nothing was written."""
        b = batches.c
        errored = sum(1 for r in rows if r["state"] == "errored")
        processing = len(rows) - errored
        async with self.db.begin() as conn:
            moved = await conn.execute(
                update(batches)
                .where(b.id == batch_id, b.status == "validating", b.claim_id == claim_id)
                .values(
                    status="in_progress" if processing else "ended",
                    processing=processing,
                    errored=errored,
                    ended_at=None if processing else now,
                    extra=extra,
                    claim_id=None,
                    claim_until=None,
                )
            )
            if moved.rowcount != 1:
                return False
            for start in range(0, len(rows), INSERT_CHUNK):
                await conn.execute(insert(batch_items), list(rows[start : start + INSERT_CHUNK]))
        return True

    async def finalized(self, batch_id: str, claim_id: str, extra: dict[str, Any]) -> bool:
        """Ends finalizing with the dialect's fields (its output files' ids), only while the claim is this one: of
        two writers exactly one records its files (the other removes its own)."""
        b = batches.c
        async with self.db.begin() as conn:
            done = await conn.execute(
                update(batches)
                .where(b.id == batch_id, b.status == "finalizing", b.claim_id == claim_id)
                .values(status="ended", extra=extra, claim_id=None, claim_until=None)
            )
        return done.rowcount == 1

    # Workers ----------------------------------------------------------------------------------------------------

    async def lease(self, n: int, lease_id: str, now: float, until: float, instance: str, run: str) -> list[Leased]:
        """Takes up to n items, shared in turn among the oldest in-progress batches (so a small batch submitted
        behind a large one is not starved by it); their lease runs until `until`."""
        c, b = batch_items.c, batches.c
        async with self.db.connect() as conn:
            candidates = await _candidates(conn, n * 4, now)
        if not candidates:
            return []
        # In turn across batches; within one, a random pick among its first few, kept in order: replicas leasing at
        # once mostly take different items instead of racing for the same ones (the UPDATE settles any race).
        share = {batch_id: list(found) for batch_id, found in candidates.items()}
        by_batch: dict[str, list[int]] = {}
        picked = 0
        while picked < n and any(share.values()):
            for batch_id, found in share.items():
                if found and picked < n:
                    by_batch.setdefault(batch_id, []).append(found.pop(random.randrange(min(len(found), 4))))
                    picked += 1
        async with self.db.begin() as conn:
            for batch_id, positions in by_batch.items():
                taken = await conn.execute(
                    update(batch_items)
                    .where(c.batch_id == batch_id, c.position.in_(positions), _takeable(now))
                    .values(
                        state="running",
                        lease_id=lease_id,
                        lease_expires=until,
                        attempts=c.attempts + 1,
                        instance=instance,
                        run=run,
                        started_at=now,
                    )
                )
                if taken.rowcount:
                    await conn.execute(
                        update(batches).where(b.id == batch_id, b.started_at.is_(None)).values(started_at=now)
                    )
            query = (
                select(c.batch_id, c.position, c.custom_id, c.endpoint, c.request, c.request_id, c.attempts, b.key_id)
                .join(batches, b.id == c.batch_id)
                .where(c.lease_id == lease_id)
                .order_by(c.batch_id, c.position)
            )
            rows = (await conn.execute(query)).all()
        return [
            Leased(r.batch_id, r.position, r.custom_id, r.endpoint, r.request, r.request_id, r.key_id, lease_id,
                   r.attempts)
            for r in rows
        ]  # fmt: skip

    async def renew(self, lease_ids: Sequence[str], until: float) -> None:
        if not lease_ids:
            return
        c = batch_items.c
        async with self.db.begin() as conn:
            await conn.execute(
                update(batch_items)
                .where(c.lease_id.in_(list(lease_ids)), c.state == "running")
                .values(lease_expires=until)
            )

    async def finish(
        self, item: Leased, state: str, result: dict[str, Any] | None, now: float, detail: str | None = None
    ) -> bool:
        """Writes the item's result if its lease is still this one; False if another worker has taken it since."""
        assert state in FINAL
        c, b = batch_items.c, batches.c
        async with self.db.begin() as conn:
            written = await conn.execute(
                update(batch_items)
                .where(
                    c.batch_id == item.batch_id,
                    c.position == item.position,
                    c.lease_id == item.lease_id,
                    c.state == "running",
                )
                .values(state=state, result=result, lease_id=None, lease_expires=None, finished_at=now, detail=detail)
            )
            if written.rowcount != 1:
                return False
            await conn.execute(
                update(batches)
                .where(b.id == item.batch_id)
                .values({b.processing: b.processing - 1, b[state]: b[state] + 1})
            )
            await _end_if_done(conn, item.batch_id, now)
        return True

    async def retry_later(self, item: Leased, not_before: float) -> None:
        """Lets go of an item to be taken again from `not_before` on (a rate limit said when)."""
        c = batch_items.c
        async with self.db.begin() as conn:
            await conn.execute(
                update(batch_items)
                .where(
                    c.batch_id == item.batch_id,
                    c.position == item.position,
                    c.lease_id == item.lease_id,
                    c.state == "running",
                )
                .values(lease_id=None, lease_expires=not_before)
            )

    async def sweep(
        self, now: float, retention_seconds: float, removing: Callable[[BatchInfo], Awaitable[None]] | None = None
    ) -> None:
        """Expiry after the window, cancellation of items whose holder died, and deletion after retention; before a
        batch is deleted, `removing` removes what its dialect wrote for it (its output files); if that fails, the
        batch stays, to be tried again by the next sweep."""
        b = batches.c
        async with self.db.connect() as conn:
            expiring = list(
                (await conn.execute(select(b.id).where(b.status.in_(RUNNING), b.expires_at <= now))).scalars()
            )
            canceling = list((await conn.execute(select(b.id).where(b.status == "canceling"))).scalars())
            old = list(
                (
                    await conn.execute(
                        select(b.id).where(b.status == "ended", b.ended_at < now - retention_seconds).limit(100)
                    )
                ).scalars()
            )
        for batch_id in expiring:
            async with self.db.begin() as conn:
                await _end_unheld(conn, batch_id, "expired", now)
        for batch_id in canceling:
            async with self.db.begin() as conn:
                await _end_unheld(conn, batch_id, "canceled", now)
        for batch_id in old:
            if removing is not None:
                found = await self.get(batch_id)
                if found is not None:
                    await removing(found)
            async with self.db.begin() as conn:
                await conn.execute(delete(batch_items).where(batch_items.c.batch_id == batch_id))
                await conn.execute(delete(batches).where(b.id == batch_id))

    # Results ----------------------------------------------------------------------------------------------------

    async def results(self, batch_id: str, after: int, limit: int) -> list[ItemResult]:
        """Finished items in position order, after position `after`."""
        c = batch_items.c
        query = (
            select(c.position, c.custom_id, c.state, c.result, c.request_id)
            .where(c.batch_id == batch_id, c.position > after, c.state.in_(FINAL))
            .order_by(c.position)
            .limit(limit)
        )
        async with self.db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ItemResult(
                custom_id=r.custom_id,
                status=r.state,
                message=r.result if r.state == "succeeded" else None,
                error=r.result if r.state == "errored" else None,
                request_id=r.request_id,
                position=r.position,
            )
            for r in rows
        ]

    async def every_result(self, batch_id: str) -> AsyncIterator[ItemResult]:
        """The finished items in position order, a page at a time (all of them once the batch has ended)."""
        after = -1
        while True:
            page = await self.results(batch_id, after, RESULTS_PAGE)
            for result in page:
                yield result
            if len(page) < RESULTS_PAGE:
                return
            after = page[-1].position

    async def items(self, batch_id: str) -> list[dict[str, Any]]:
        """Every item's bookkeeping (state, attempts, who ran it): for operators and tests."""
        c = batch_items.c
        query = select(c.position, c.custom_id, c.state, c.request_id, c.attempts, c.instance, c.run, c.lease_id).where(
            c.batch_id == batch_id
        )
        async with self.db.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query.order_by(c.position))).all()]


async def _candidates(conn: AsyncConnection, want: int, now: float) -> dict[str, list[int]]:
    """Takeable positions of the oldest in-progress batches (up to 8 of them), at most `want` a batch. Queued and
    stale items are looked up apart, each an index range scan (batch, state, position): one OR over both states
    would scan the finished items before them, a cost that grows with every item done."""
    c, b = batch_items.c, batches.c
    open_batches = select(b.id).where(b.status == "in_progress", b.expires_at > now).order_by(b.id).limit(8)
    found: dict[str, list[int]] = {}
    for batch_id in (await conn.execute(open_batches)).scalars():
        stale = select(c.position).where(c.batch_id == batch_id, c.state == "running", c.lease_expires < now)
        queued = select(c.position).where(c.batch_id == batch_id, c.state == "queued")
        positions: list[int] = []
        for query in (stale, queued):
            if len(positions) < want:
                rows = await conn.execute(query.order_by(c.position).limit(want - len(positions)))
                positions += rows.scalars()
        if positions:
            found[batch_id] = positions
    return found


async def _end_unheld(conn: AsyncConnection, batch_id: str, state: str, now: float) -> None:
    c, b = batch_items.c, batches.c
    ended = await conn.execute(
        update(batch_items)
        .where(c.batch_id == batch_id, _unheld(now))
        .values(state=state, lease_id=None, lease_expires=None, finished_at=now)
    )
    if ended.rowcount:
        n = ended.rowcount
        await conn.execute(
            update(batches).where(b.id == batch_id).values({b.processing: b.processing - n, b[state]: b[state] + n})
        )
    await _end_if_done(conn, batch_id, now)


async def _end_if_done(conn: AsyncConnection, batch_id: str, now: float) -> None:
    """Once no item is processing the batch ends, or first finalizes if its kind writes something at the end."""
    b = batches.c
    await conn.execute(
        update(batches)
        .where(b.id == batch_id, b.processing == 0, b.status.in_(RUNNING))
        .values(status=case((b.kind.in_(FINALIZED_KINDS), "finalizing"), else_="ended"), ended_at=now)
    )


def info(row: Any) -> BatchInfo:
    return BatchInfo(
        id=row.id,
        kind=row.kind,
        status=row.status,
        counts=Counts(*(int(getattr(row, name)) for name in COUNT_COLUMNS)),
        created_at=row.created_at,
        ended_at=row.ended_at,
        expires_at=row.expires_at,
        cancel_initiated_at=row.cancel_initiated_at,
        archived_at=row.archived_at,
        started_at=row.started_at,
        metadata=dict(row.metadata or {}),
        owner=row.owner,
        extra=dict(row.extra or {}),
    )
