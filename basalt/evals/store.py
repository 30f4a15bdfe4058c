"""The evals room's queries. A run changes state only by a conditional UPDATE on the state it expects, so that the
drivers of several replicas may all look at a run and exactly one of them moves it on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .tables import eval_output_items, eval_runs, evals

INSERT_CHUNK = 1000
Row = dict[str, Any]


class EvalStore:
    def __init__(self, db: Callable[[], AsyncEngine]) -> None:
        self._db = db

    @property
    def db(self) -> AsyncEngine:
        return self._db()

    # Evals ------------------------------------------------------------------------------------------------------

    async def add_eval(self, row: Row) -> None:
        async with self.db.begin() as conn:
            await conn.execute(insert(evals).values(**row))

    async def eval(self, eval_id: str) -> Row | None:
        async with self.db.connect() as conn:
            found = (await conn.execute(select(evals).where(evals.c.id == eval_id))).first()
        return dict(found._mapping) if found is not None else None

    async def update_eval(self, eval_id: str, values: Row) -> None:
        async with self.db.begin() as conn:
            await conn.execute(update(evals).where(evals.c.id == eval_id).values(**values))

    async def delete_eval(self, eval_id: str) -> None:
        """The eval, its runs and their output items (explicitly: SQLite enforces no foreign keys here)."""
        runs = select(eval_runs.c.id).where(eval_runs.c.eval_id == eval_id).scalar_subquery()
        async with self.db.begin() as conn:
            await conn.execute(delete(eval_output_items).where(eval_output_items.c.run_id.in_(runs)))
            await conn.execute(delete(eval_runs).where(eval_runs.c.eval_id == eval_id))
            await conn.execute(delete(evals).where(evals.c.id == eval_id))

    async def page(
        self, table: Any, where: Sequence[Any], limit: int, after: str | None, asc: bool
    ) -> tuple[list[Row], bool]:
        """A page of rows by id (ids are time-ordered) after the id `after`, and whether more follow."""
        query = select(table).where(*where)
        if after is not None:
            query = query.where(table.c.id > after if asc else table.c.id < after)
        query = query.order_by(table.c.id.asc() if asc else table.c.id.desc()).limit(limit + 1)
        async with self.db.connect() as conn:
            rows = [dict(r._mapping) for r in (await conn.execute(query)).all()]
        return rows[:limit], len(rows) > limit

    # Runs -------------------------------------------------------------------------------------------------------

    async def add_run(self, run: Row, items: Sequence[Row]) -> None:
        async with self.db.begin() as conn:
            await conn.execute(insert(eval_runs).values(**run))
            for start in range(0, len(items), INSERT_CHUNK):
                await conn.execute(insert(eval_output_items), list(items[start : start + INSERT_CHUNK]))

    async def run(self, run_id: str) -> Row | None:
        async with self.db.connect() as conn:
            found = (await conn.execute(select(eval_runs).where(eval_runs.c.id == run_id))).first()
        return dict(found._mapping) if found is not None else None

    async def active_runs(self, limit: int = 100) -> list[Row]:
        query = select(eval_runs).where(eval_runs.c.status == "in_progress").order_by(eval_runs.c.id).limit(limit)
        async with self.db.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]

    async def move(self, run_id: str, expect: Row, values: Row) -> bool:
        """Sets `values` on the run if its columns still hold `expect`; whether it did."""
        c = eval_runs.c
        checks = [c[name] == value if value is not None else c[name].is_(None) for name, value in expect.items()]
        async with self.db.begin() as conn:
            done = await conn.execute(update(eval_runs).where(c.id == run_id, *checks).values(**values))
        return bool(done.rowcount)

    async def complete(self, run_id: str, values: Row, graded: Sequence[Row]) -> bool:
        """The run completed with its graded items, in one transaction, by the one driver whose UPDATE holds."""
        c, o = eval_runs.c, eval_output_items.c
        async with self.db.begin() as conn:
            done = await conn.execute(
                update(eval_runs).where(c.id == run_id, c.status == "in_progress").values(**values)
            )
            if not done.rowcount:
                return False
            statement = (
                update(eval_output_items)
                .where(and_(o.run_id == bindparam("r_run"), o.position == bindparam("r_position")))
                .values(status=bindparam("status"), sample=bindparam("sample"), results=bindparam("results"))
            )
            rows = [{"r_run": run_id, "r_position": g["position"], "status": g["status"], "sample": g["sample"],
                     "results": g["results"]} for g in graded]  # fmt: skip
            for start in range(0, len(rows), INSERT_CHUNK):
                await conn.execute(statement, rows[start : start + INSERT_CHUNK])
        return True

    async def delete_run(self, run_id: str) -> None:
        async with self.db.begin() as conn:
            await conn.execute(delete(eval_output_items).where(eval_output_items.c.run_id == run_id))
            await conn.execute(delete(eval_runs).where(eval_runs.c.id == run_id))

    # Output items -----------------------------------------------------------------------------------------------

    async def source_items(self, run_id: str) -> list[Row]:
        o = eval_output_items.c
        query = select(o.position, o.item).where(o.run_id == run_id).order_by(o.position)
        async with self.db.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]

    async def output_items(
        self, run_id: str, limit: int, after: int | None, asc: bool, status: str | None
    ) -> tuple[list[Row], bool]:
        o = eval_output_items.c
        query = select(eval_output_items).where(o.run_id == run_id)
        query = query.where(o.status == status) if status else query.where(o.status != "pending")
        if after is not None:
            query = query.where(o.position > after if asc else o.position < after)
        query = query.order_by(o.position.asc() if asc else o.position.desc()).limit(limit + 1)
        async with self.db.connect() as conn:
            rows = [dict(r._mapping) for r in (await conn.execute(query)).all()]
        return rows[:limit], len(rows) > limit

    async def output_item(self, run_id: str, position: int) -> Row | None:
        o = eval_output_items.c
        query = select(eval_output_items).where(o.run_id == run_id, o.position == position, o.status != "pending")
        async with self.db.connect() as conn:
            found = (await conn.execute(query)).first()
        return dict(found._mapping) if found is not None else None
