"""Evals and their runs: a run is one batch of sampling calls on the batch engine, then (with model graders) one
batch of judge calls, then grading; a driver in every replica moves each run in progress on, with conditional
UPDATEs (store.py), so a run survives any replica's death and is finished exactly once.

    created --(sampling batch ended)--> judging --(judge batch ended)--> graded: completed
            \\_ (no model graders) ________________________________________/
    canceled at any point: both batches are canceled; failed: a batch of the run is gone.

Grading reads every stored answer and is deterministic given them, so a driver that dies while grading leaves the
run in progress and the next look grades it again from the same answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from ..batches import BatchEngine, BatchInfo, NewItem, owner_of
from ..batches import ids as batch_ids
from ..config import EvalSettings
from ..control import ControlPlane, Principal
from ..errors import InvalidRequest, NotFound
from ..files import FileStore
from ..files.stores import owner_of as files_owner
from . import sources, spec
from .grading import grade_run, judge_items
from .store import EvalStore, Row
from .tables import eval_runs, evals

log = logging.getLogger("basalt.evals")
ACTIVE = "in_progress"
FINAL = ("completed", "canceled", "failed")


class Evals:
    def __init__(
        self,
        settings: EvalSettings,
        control: ControlPlane,
        batches: BatchEngine,
        files: FileStore,
        knows: Callable[[str], bool],
        local_model: Callable[[], str],
    ) -> None:
        self.settings = settings
        self.control = control
        self.batches = batches
        self.files = files
        self.knows = knows  # whether a model name is served here (the catalog's answer)
        self.local_model = local_model  # the judges' model when a grader names none
        self.store = EvalStore(lambda: control.store().db)
        self._task: asyncio.Task[None] | None = None
        self._quiet_until = 0.0

    # Evals ------------------------------------------------------------------------------------------------------

    async def create_eval(self, principal: Principal, body: spec.NewEval) -> Row:
        config = spec.data_source_config(body.data_source_config)
        await asyncio.to_thread(sources.check_schema, config.item_schema)
        criteria = spec.criteria(body.testing_criteria)
        for c in criteria:
            judge = (c.model or self.local_model()) if isinstance(c, spec.LabelModel | spec.ScoreModel) else None
            if judge is not None and not self.knows(judge):
                raise NotFound(f"The model {judge!r} of grader {c.name!r} does not exist.", param="testing_criteria")
        now = time.time()
        row = {
            "id": batch_ids.batch_id("eval", now),
            "owner": owner_of(principal),
            "name": body.name,
            "data_source_config": config.model_dump(),
            "testing_criteria": [c.model_dump(exclude_none=True) for c in criteria],
            "metadata": spec.check_metadata(body.metadata),
            "created_at": now,
        }
        await self.store.add_eval(row)
        return row

    async def get_eval(self, principal: Principal, eval_id: str) -> Row:
        found = await self.store.eval(eval_id) if _valid(eval_id, "eval") else None
        if found is None or not (principal.admin or found["owner"] == owner_of(principal)):
            raise NotFound(f"No eval found with id '{eval_id[:64]}'.", param="eval_id")
        return found

    async def list_evals(
        self, principal: Principal, limit: int, after: str | None, asc: bool
    ) -> tuple[list[Row], bool]:
        where = [] if principal.admin else [_owned(evals, owner_of(principal))]
        return await self.store.page(evals, where, limit, _cursor(after, "eval"), asc)

    async def update_eval(self, principal: Principal, eval_id: str, body: spec.EvalUpdate) -> Row:
        await self.get_eval(principal, eval_id)
        values: Row = {}
        if body.name is not None:
            values["name"] = body.name
        if body.metadata is not None:
            values["metadata"] = spec.check_metadata(body.metadata)
        if values:
            await self.store.update_eval(eval_id, values)
        return await self.get_eval(principal, eval_id)

    async def delete_eval(self, principal: Principal, eval_id: str) -> None:
        await self.get_eval(principal, eval_id)
        runs, _ = await self.store.page(eval_runs, [eval_runs.c.eval_id == eval_id], 10_000, None, True)
        for run in runs:
            await self._stop_batches(run)
        await self.store.delete_eval(eval_id)

    # Runs -------------------------------------------------------------------------------------------------------

    async def create_run(self, principal: Principal, eval_id: str, body: spec.NewRun) -> Row:
        found = await self.get_eval(principal, eval_id)
        criteria = spec.criteria(found["testing_criteria"])
        source = body.data_source
        metadata = spec.check_metadata(body.metadata)
        if isinstance(source, spec.Completions) and not self.knows(source.model):
            raise NotFound(f"The model {source.model!r} does not exist.", param="data_source.model")
        items = await self._items(principal, source, found["data_source_config"]["item_schema"])
        judges = sum(1 for c in criteria if c.type in spec.JUDGES)
        if len(items) * judges > self.batches.settings.max_requests:
            raise InvalidRequest(
                f"data_source: {len(items)} items x {judges} model graders is more judge calls than a batch holds "
                f"({self.batches.settings.max_requests}).",
                param="data_source",
            )
        now = time.time()
        run_id = batch_ids.batch_id("evalrun", now)
        sample_batch = None
        if isinstance(source, spec.Completions):
            requests = await asyncio.to_thread(sources.sample_requests, source, items, self.settings.max_tokens)
            info = await self.batches.submit(principal, "eval", requests, extra={"eval_id": eval_id, "run_id": run_id,
                                                                                 "stage": "sampling"})  # fmt: skip
            sample_batch = info.id
        run = {
            "id": run_id,
            "eval_id": eval_id,
            "owner": found["owner"],
            "key_id": principal.key.id if principal.key is not None else None,
            "name": body.name or f"run {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now))}",
            "model": source.model if isinstance(source, spec.Completions) else "",
            "status": ACTIVE,
            "stage": "sampling",
            "sample_batch": sample_batch,
            "judge_batch": None,
            "items": len(items),
            "data_source": source.model_dump(exclude_none=True),
            "metadata": metadata,
            "created_at": now,
        }
        rows = [{"run_id": run_id, "position": i, "item": entry, "status": "pending", "created_at": now}
                for i, entry in enumerate(items)]  # fmt: skip
        await self.store.add_run(run, rows)
        self.wake()
        return {**run, "summary": None, "error": None, "ended_at": None}

    async def _items(self, principal: Principal, source: spec.Completions | spec.Jsonl, schema: Any) -> list[Row]:
        given = source.source
        if isinstance(given, spec.FileContent):
            items = [entry.model_dump() for entry in given.content]
        else:
            owner = files_owner(principal)
            await self.files.get(owner, given.id)  # a missing (or another tenant's) file is a 404 first
            items = await sources.read_file(self.files.content(owner, given.id), self.settings.max_items)
        if not items:
            raise InvalidRequest("data_source: the source holds no items", param="data_source")
        if len(items) > self.settings.max_items:
            raise InvalidRequest(f"data_source: a run may hold at most {self.settings.max_items} items")
        if isinstance(schema, dict) and schema:
            await asyncio.to_thread(sources.check_items, items, schema)
        return items

    async def get_run(self, principal: Principal, eval_id: str, run_id: str) -> Row:
        await self.get_eval(principal, eval_id)
        found = await self.store.run(run_id) if _valid(run_id, "evalrun") else None
        if found is None or found["eval_id"] != eval_id:
            raise NotFound(f"No run found with id '{run_id[:64]}'.", param="run_id")
        return found

    async def public_status(self, run: Row) -> str:
        """The run's status as OpenAI names it: queued until its first sample starts."""
        if run["status"] != ACTIVE:
            return str(run["status"])
        if run["stage"] == "sampling" and run["sample_batch"]:
            info = await self.batches.store.get(run["sample_batch"])
            if info is not None and info.started_at is None and info.status == "in_progress":
                return "queued"
        return ACTIVE

    async def list_runs(
        self, principal: Principal, eval_id: str, limit: int, after: str | None, asc: bool, status: str | None
    ) -> tuple[list[Row], bool]:
        await self.get_eval(principal, eval_id)
        where = [eval_runs.c.eval_id == eval_id]
        if status is not None:
            where.append(eval_runs.c.status == (ACTIVE if status == "queued" else status))
        return await self.store.page(eval_runs, where, limit, _cursor(after, "evalrun"), asc)

    async def cancel_run(self, principal: Principal, eval_id: str, run_id: str) -> Row:
        run = await self.get_run(principal, eval_id, run_id)
        if run["status"] != ACTIVE:
            raise InvalidRequest(f"Run {run_id} has ended ({run['status']}); it cannot be canceled.")
        if await self.store.move(run_id, {"status": ACTIVE}, {"status": "canceled", "ended_at": time.time()}):
            await self._stop_batches(run)
        return await self.get_run(principal, eval_id, run_id)

    async def delete_run(self, principal: Principal, eval_id: str, run_id: str) -> None:
        run = await self.get_run(principal, eval_id, run_id)
        await self._stop_batches(run)
        await self.store.delete_run(run_id)

    async def _stop_batches(self, run: Row) -> None:
        now = time.time()
        for batch_id in (run["sample_batch"], run["judge_batch"]):
            if batch_id:
                await self.batches.store.cancel(batch_id, now)

    async def output_items(
        self, principal: Principal, eval_id: str, run_id: str, limit: int, after: str | None, asc: bool,
        status: str | None,
    ) -> tuple[list[Row], bool]:  # fmt: skip
        await self.get_run(principal, eval_id, run_id)
        position = item_position(after, run_id)
        if after is not None and position is None:
            return [], False  # a cursor from elsewhere: nothing comes after it here
        return await self.store.output_items(run_id, limit, position, asc, status)

    async def output_item(self, principal: Principal, eval_id: str, run_id: str, item_id: str) -> Row:
        await self.get_run(principal, eval_id, run_id)
        position = item_position(item_id, run_id)
        found = await self.store.output_item(run_id, position) if position is not None else None
        if found is None:
            raise NotFound(f"No output item found with id '{item_id[:80]}'.", param="output_item_id")
        return found

    # The driver -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.enabled and self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._main(), name="basalt-evals")

    def wake(self) -> None:
        if self._task is not None:
            self._wake.set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _main(self) -> None:
        while True:
            try:
                for run in await self.store.active_runs():
                    await self.advance(run)
            except Exception:  # the database is away, say: look again shortly, and say so once a minute
                if time.monotonic() >= self._quiet_until:
                    log.exception("the eval driver could not move runs on; retrying")
                    self._quiet_until = time.monotonic() + 60
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)

    async def advance(self, run: Row) -> None:
        """One look at a run in progress: submit its judges once sampling has ended, grade it once all has."""
        if run["stage"] == "sampling":
            sampled = await self._ended(run, "sample_batch")
            if sampled is None:
                return
            criteria = spec.criteria((await self._eval(run))["testing_criteria"])
            if any(c.type in spec.JUDGES for c in criteria):
                await self._submit_judges(run, criteria)
                return
        elif run["stage"] == "judging" and await self._ended(run, "judge_batch") is None:
            return
        await self._grade(run)

    async def _eval(self, run: Row) -> Row:
        found = await self.store.eval(run["eval_id"])
        if found is None:
            raise NotFound(f"eval {run['eval_id']} is gone")
        return found

    async def _ended(self, run: Row, column: str) -> BatchInfo | bool | None:
        """The run's batch once it has ended (True where the run has none); None while it runs. A batch that is
        gone (deleted through a batch route) fails the run."""
        batch_id = run[column]
        if not batch_id:
            return True
        info = await self.batches.store.get(batch_id)
        if info is None:
            error = {"code": "batch_gone", "message": f"the run's batch {batch_id} was deleted"}
            await self.store.move(run["id"], {"status": ACTIVE}, {"status": "failed", "error": error,
                                                                  "ended_at": time.time()})  # fmt: skip
            return None
        return info if info.status == "ended" else None

    async def _submit_judges(self, run: Row, criteria: list[spec.Criterion]) -> None:
        """The judges' batch, submitted as the run's creator; the one driver whose UPDATE holds keeps its batch,
        another that raced it cancels its own (nothing of it has run: its items are canceled unstarted)."""
        principal = await self.control.principal_of(run["key_id"])
        items: list[NewItem] = await judge_items(self, run, criteria)
        extra = {"eval_id": run["eval_id"], "run_id": run["id"], "stage": "judging"}
        info = await self.batches.submit(principal, "eval", items, extra=extra) if items else None
        moved = await self.store.move(
            run["id"], {"status": ACTIVE, "stage": "sampling"},
            {"stage": "judging", "judge_batch": info.id if info else None},
        )  # fmt: skip
        if not moved and info is not None:
            await self.batches.store.cancel(info.id, time.time())
        self.wake()

    async def _grade(self, run: Row) -> None:
        criteria = spec.criteria((await self._eval(run))["testing_criteria"])
        graded, summary = await grade_run(self, run, criteria)
        values = {"status": "completed", "stage": "done", "summary": summary, "ended_at": time.time()}
        await self.store.complete(run["id"], values, graded)


def _valid(value: str, prefix: str) -> bool:
    return value.startswith(prefix + "_") and batch_ids.valid_batch_id(value)


def _cursor(after: str | None, prefix: str) -> str | None:
    if after is None:
        return None
    if not _valid(after, prefix):
        raise InvalidRequest("after: not an id of this list", param="after")
    return after


def _owned(table: Any, owner: str | None) -> Any:
    return table.c.owner.is_(None) if owner is None else table.c.owner == owner


def output_item_id(run_id: str, position: int) -> str:
    return f"outputitem_{run_id.partition('_')[2]}_{position}"


def item_position(item_id: str | None, run_id: str) -> int | None:
    """The position an output item id names within `run_id` (None: not one of its ids)."""
    if item_id is None:
        return None
    prefix = f"outputitem_{run_id.partition('_')[2]}_"
    tail = item_id[len(prefix) :] if item_id.startswith(prefix) else ""
    return int(tail) if tail.isdigit() and len(tail) <= 9 else None
