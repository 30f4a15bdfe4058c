"""The small server routes the console needs beyond the public and admin APIs, each checked for scope on the server:
`GET /v1/whoami` (any valid key: who it is and what it may see), `GET /admin/deployments` (admin: what is served
and each deployment's health) and `POST /admin/guardrails/check` (admin: a definition, as JSON or YAML, validated
with every error located, without defining it)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import yaml
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from ..control.admin import json_object, ok, project_json
from ..control.principal import ENDPOINTS
from ..errors import InvalidRequest
from ..guard import GuardrailConfig
from ..http.plumbing import PRINCIPAL, read_body
from ..router import Router, Target
from ..wiring import Platform

MAX_CHECK_BYTES = 256 << 10  # a guardrail definition, YAML or JSON; the admin API takes up to 1 MiB of JSON
MAX_ERRORS = 50


def whoami(principal: Any, auth: bool) -> dict[str, Any]:
    key = principal.key
    return {
        "auth": auth,
        "admin": principal.admin,
        "key": key.public() if key is not None else None,
        "project": project_json(principal.project) if principal.project is not None else None,
        "endpoints": [e for e in ENDPOINTS if e != "admin"],  # what a key's scopes can name (the keys page offers them)
    }


def target_json(target: Target, now: float) -> dict[str, Any]:
    resting = max(0.0, target.cooling_until - now)
    return {
        "deployment": target.label or target.model,
        "model": target.model,
        "weight": target.weight,
        "health": "cooling" if resting > 0 else ("busy" if not target.available(now) else "ok"),
        "cooldown_seconds": round(resting, 3),
        "in_flight": target.in_flight,
        "batch_in_flight": target.batch_in_flight,
        "max_concurrency": target.max_concurrency,
        "failures": target.failures,
        "recent_errors": [{"at": at, "type": kind, "message": text} for at, kind, text in target.recent_errors],
    }


def deployments(platform: Platform) -> list[dict[str, Any]]:
    """Every model name served, with its deployments: an upstream's router targets, or the local engine's load."""
    now = time.monotonic()
    out: list[dict[str, Any]] = []
    for info in platform.catalog.models():
        provider, model_id, _ = platform.catalog.resolve(info.id)
        entry: dict[str, Any] = {"model": info.id, "display_name": info.display_name, "serves": model_id}
        if isinstance(provider, Router):
            entry["kind"], entry["deployments"] = "upstream", [target_json(t, now) for t in provider.targets]
        else:
            stats = platform.engine_stats()
            load = None if stats is None else {"running": stats.running, "waiting": stats.waiting}
            health = "ok" if stats is not None else "stopped"
            entry["kind"] = "local"
            entry["deployments"] = [{"deployment": f"local:{model_id}", "health": health, "load": load}]
        out.append(entry)
    return out


def check_definition(raw: bytes) -> dict[str, Any]:
    """`{"yaml": text}` or `{"definition": {...}}` -> `{"valid", "definition"?, "errors": [{"loc", "msg"}]}`."""
    body = json_object(raw, 'a guardrail definition, as {"yaml": text} or {"definition": {...}}')
    if set(body) - {"yaml", "definition"} or len(body) != 1:
        raise InvalidRequest('give exactly one of "yaml" (text) or "definition" (an object)')
    if "yaml" in body:
        if not isinstance(body["yaml"], str):
            raise InvalidRequest("yaml: a string", param="yaml")
        try:
            data = yaml.safe_load(body["yaml"])
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = [f"line {mark.line + 1}", f"column {mark.column + 1}"] if mark is not None else []
            return {"valid": False, "errors": [{"loc": where, "msg": str(getattr(exc, "problem", exc))}]}
        except RecursionError:  # PyYAML composes nested collections recursively
            return {"valid": False, "errors": [{"loc": [], "msg": "the YAML is nested too deeply"}]}
    else:
        data = body["definition"]
    if not isinstance(data, dict):
        return {"valid": False, "errors": [{"loc": [], "msg": "a guardrail definition is a mapping of fields"}]}
    try:
        config = GuardrailConfig.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors(include_url=False)]
        return {"valid": False, "errors": errors[:MAX_ERRORS]}
    return {"valid": True, "definition": config.model_dump(mode="json"), "errors": []}


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    control = platform.control

    @router.get("/v1/whoami")
    async def who(request: Request) -> Response:
        # Any valid key may ask who it is: no endpoint scope beyond being a key that authenticates.
        principal = request.scope[PRINCIPAL] = await control.authenticate(request.headers, None)
        return ok(whoami(principal, platform.settings.control.auth))

    @router.get("/admin/deployments")
    async def list_deployments(request: Request) -> Response:
        request.scope[PRINCIPAL] = await control.authenticate(request.headers, "admin")
        return ok({"data": deployments(platform)})

    @router.post("/admin/guardrails/check")
    async def check(request: Request) -> Response:
        request.scope[PRINCIPAL] = await control.authenticate(request.headers, "admin")
        raw = await read_body(request, MAX_CHECK_BYTES)
        return ok(await asyncio.to_thread(check_definition, raw))  # YAML parsing is CPU work: off the loop

    return router
