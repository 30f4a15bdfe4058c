"""The OpenAI Evals API, as `client.evals`, `client.evals.runs` and `client.evals.runs.output_items` use it: evals
with a custom data-source config and testing criteria; runs over inline items or an uploaded file, sampled by any
Basalt model; their output items with each sample and grade. The room behind it is basalt/evals/ (runs on the batch
engine). Evals belong to the caller's project: another project's ids are 404s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from ..control.principal import Principal
from ..errors import InvalidRequest
from ..evals import Row, output_item_id, spec
from ..http.plumbing import read_body
from .anthropic import json_response, list_body
from .openai_files import list_limit

if TYPE_CHECKING:
    from ..evals import Evals
    from ..wiring import Platform

SCOPE = "evals"
EVAL_BODY = 1024 * 1024
RUN_BODY = 32 * 1024 * 1024  # inline items: up to max_items of them
SAMPLE_SCHEMA = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array"},
        "output_text": {"type": "string"},
        "output_json": {},
    },
    "required": ["model", "output_text"],
}


def eval_object(row: Row) -> dict[str, Any]:
    config = row["data_source_config"]
    schema: dict[str, Any] = {"type": "object", "properties": {"item": config["item_schema"]}, "required": ["item"]}
    if config.get("include_sample_schema"):
        schema["properties"]["sample"] = SAMPLE_SCHEMA
        schema["required"] = ["item", "sample"]
    return {
        "id": row["id"],
        "object": "eval",
        "name": row["name"],
        "created_at": int(row["created_at"]),
        "metadata": row["metadata"] or None,
        "data_source_config": {"type": "custom", "schema": schema},
        "testing_criteria": row["testing_criteria"],
    }


def run_object(row: Row, status: str) -> dict[str, Any]:
    summary = row["summary"] or {}
    empty = {"total": row["items"], "errored": 0, "failed": 0, "passed": 0}
    return {
        "id": row["id"],
        "object": "eval.run",
        "eval_id": row["eval_id"],
        "name": row["name"],
        "model": row["model"],
        "status": status,
        "created_at": int(row["created_at"]),
        "data_source": row["data_source"],
        "error": row["error"],
        "metadata": row["metadata"] or None,
        "result_counts": summary.get("result_counts", empty),
        "per_testing_criteria_results": summary.get("per_testing_criteria_results", []),
        "per_model_usage": summary.get("per_model_usage", []),
        "report_url": "",
    }


def output_item_object(row: Row, run: Row) -> dict[str, Any]:
    return {
        "id": output_item_id(run["id"], row["position"]),
        "object": "eval.run.output_item",
        "created_at": int(row["created_at"]),
        "eval_id": run["eval_id"],
        "run_id": run["id"],
        "datasource_item_id": row["position"],
        "datasource_item": row["item"]["item"],
        "status": row["status"],
        "results": row["results"] or [],
        "sample": row["sample"],
    }


def _order(raw: str | None) -> bool:
    """Whether the order asked is ascending (the Evals API's default)."""
    if raw not in (None, "asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'.", param="order")
    return raw != "desc"


def _choice(raw: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if raw is not None and raw not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}.", param=name)
    return raw


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    control = platform.control
    evals: Evals = platform.evals

    async def caller(request: Request) -> Principal:
        return await control.authenticate(request.headers, SCOPE)

    async def shown(run: Row) -> dict[str, Any]:
        return run_object(run, await evals.public_status(run))

    @router.post("/v1/evals")
    async def create_eval(request: Request) -> Any:
        principal = await caller(request)
        body = spec.parse(spec.NewEval, await read_body(request, EVAL_BODY))
        return json_response(eval_object(await evals.create_eval(principal, body)))

    @router.get("/v1/evals")
    async def list_evals(request: Request) -> Any:
        principal = await caller(request)
        query = request.query_params
        _choice(query.get("order_by"), ("created_at", "updated_at"), "order_by")
        limit = list_limit(query.get("limit"), 20, 100)
        rows, more = await evals.list_evals(principal, limit, query.get("after"), _order(query.get("order")))
        return json_response(list_body([eval_object(r) for r in rows], more))

    @router.get("/v1/evals/{eval_id}")
    async def retrieve_eval(request: Request, eval_id: str) -> Any:
        return json_response(eval_object(await evals.get_eval(await caller(request), eval_id)))

    @router.post("/v1/evals/{eval_id}")
    async def update_eval(request: Request, eval_id: str) -> Any:
        principal = await caller(request)
        body = spec.parse(spec.EvalUpdate, await read_body(request, EVAL_BODY))
        return json_response(eval_object(await evals.update_eval(principal, eval_id, body)))

    @router.delete("/v1/evals/{eval_id}")
    async def delete_eval(request: Request, eval_id: str) -> Any:
        await evals.delete_eval(await caller(request), eval_id)
        return json_response({"object": "eval.deleted", "deleted": True, "eval_id": eval_id})

    @router.post("/v1/evals/{eval_id}/runs")
    async def create_run(request: Request, eval_id: str) -> Any:
        principal = await caller(request)
        body = spec.parse(spec.NewRun, await read_body(request, RUN_BODY))
        return json_response(await shown(await evals.create_run(principal, eval_id, body)))

    @router.get("/v1/evals/{eval_id}/runs")
    async def list_runs(request: Request, eval_id: str) -> Any:
        principal = await caller(request)
        query = request.query_params
        status = _choice(query.get("status"), ("queued", "in_progress", "completed", "canceled", "failed"), "status")
        limit = list_limit(query.get("limit"), 20, 100)
        asc = _order(query.get("order"))
        rows, more = await evals.list_runs(principal, eval_id, limit, query.get("after"), asc, status)
        return json_response(list_body([await shown(r) for r in rows], more))

    @router.get("/v1/evals/{eval_id}/runs/{run_id}")
    async def retrieve_run(request: Request, eval_id: str, run_id: str) -> Any:
        return json_response(await shown(await evals.get_run(await caller(request), eval_id, run_id)))

    @router.post("/v1/evals/{eval_id}/runs/{run_id}/cancel")
    async def cancel_run(request: Request, eval_id: str, run_id: str) -> Any:
        return json_response(await shown(await evals.cancel_run(await caller(request), eval_id, run_id)))

    @router.delete("/v1/evals/{eval_id}/runs/{run_id}")
    async def delete_run(request: Request, eval_id: str, run_id: str) -> Any:
        await evals.delete_run(await caller(request), eval_id, run_id)
        return json_response({"object": "eval.run.deleted", "deleted": True, "run_id": run_id})

    @router.get("/v1/evals/{eval_id}/runs/{run_id}/output_items")
    async def list_output_items(request: Request, eval_id: str, run_id: str) -> Any:
        principal = await caller(request)
        query = request.query_params
        status = _choice(query.get("status"), ("pass", "fail"), "status")
        limit = list_limit(query.get("limit"), 20, 100)
        asc = _order(query.get("order"))
        run = await evals.get_run(principal, eval_id, run_id)
        rows, more = await evals.output_items(principal, eval_id, run_id, limit, query.get("after"), asc, status)
        return json_response(list_body([output_item_object(r, run) for r in rows], more))

    @router.get("/v1/evals/{eval_id}/runs/{run_id}/output_items/{output_item_id}")
    async def retrieve_output_item(request: Request, eval_id: str, run_id: str, output_item_id: str) -> Any:
        principal = await caller(request)
        run = await evals.get_run(principal, eval_id, run_id)
        row = await evals.output_item(principal, eval_id, run_id, output_item_id)
        return json_response(output_item_object(row, run))

    return router
