"""The admin HTTP API (projects, keys, usage reports) and the tenant's own usage report at GET /v1/usage."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import Conflict, InternalError, InvalidRequest, NotFound, Overloaded, PermissionDenied
from ..guard import Guardrails
from ..guard.registry import storable, validate
from ..http.plumbing import PRINCIPAL, read_body
from . import aws_keys
from .bounds import TIME_MAX, Count, Name, Seconds, Usd, text
from .plane import ControlPlane
from .principal import ENDPOINTS, Principal
from .records import LIMIT_FIELDS, ApiKey, Limits, Project
from .sealing import SealError
from .store import GROUPS

FLUSH_WAIT_SECONDS = 10.0
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
MAX_BODY_BYTES = 1 << 20  # an admin payload is small; the largest, a guardrail with 10,000 words, is a few hundred KB


class LimitFields(BaseModel):
    # Every bound is one the columns hold on SQLite and PostgreSQL alike (bounds.py), so a value either fits or is a
    # 400 naming the field, never a database error.
    model_config = ConfigDict(extra="forbid")
    rpm: Count | None = None
    input_tpm: Count | None = None
    output_tpm: Count | None = None
    max_concurrency: Count | None = None
    daily_budget_usd: Usd | None = None
    monthly_budget_usd: Usd | None = None
    guardrail: Name | None = None  # "name:version"

    def limits(self) -> Limits:
        return Limits(**{name: getattr(self, name) for name in LIMIT_FIELDS})


class NewProject(LimitFields):
    name: Name
    org: Name = "default"


class NewKey(LimitFields):
    name: Name
    project: Name | None = None  # id or name; required unless admin
    admin: bool = False
    models: list[Name] | None = Field(default=None, max_length=1000)
    endpoints: list[Name] | None = Field(default=None, max_length=len(ENDPOINTS))
    expires_at: Seconds | None = None  # Unix seconds
    expires_in: Seconds | None = Field(default=None, gt=0)  # seconds from now
    aws: bool = False  # also issue an AWS-style access key pair (SigV4, the Bedrock dialect), shown once


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"There was an error parsing the body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"The request body must be {what}, as a JSON object.")
    return data


def parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate(json_object(raw, "the fields to set"))
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise InvalidRequest("; ".join(parts)) from None


def ok(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def same_or_conflict(stored: dict[str, Any] | None, definition: dict[str, Any]) -> Response:
    """Defining a version again is a no-op when the definition is the same, and a 409 when it is not."""
    if stored == definition:
        return ok(stored)
    raise Conflict(
        f"guardrail {definition['name']} version {definition['version']} is defined already, differently; a version "
        "never changes once defined: give the new definition a new version"
    )


def project_json(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "org_id": project.org_id,
        "name": project.name,
        "created_at": project.created_at,
        "limits": project.limits.as_dict(),
        "guardrail": project.guardrail,
    }


def timestamp(value: str | None, name: str) -> float | None:
    """Unix seconds, or an ISO 8601 date or time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    wrong = InvalidRequest(f"{name}: expected Unix seconds or an ISO 8601 date, got {value[:100]!r}", param=name)
    if len(value) > 100:
        raise wrong
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise wrong from None
        seconds = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if not -TIME_MAX <= seconds <= TIME_MAX:  # NaN fails this too
        raise InvalidRequest(f"{name}: Unix seconds between {-TIME_MAX:.0f} and {TIME_MAX:.0f}", param=name)
    return seconds


def trace_id(value: str | None) -> str | None:
    """A W3C trace id filter: 32 hex digits (the ledger stores them lowercase)."""
    if not value:
        return None
    if not _TRACE_ID.fullmatch(value):
        raise InvalidRequest(f"trace_id: 32 hexadecimal digits, got {value[:100]!r}", param="trace_id")
    return value.lower()


def build_router(control: ControlPlane, guardrails: Guardrails) -> APIRouter:
    router = APIRouter()

    async def read(request: Request) -> bytes:
        return await read_body(request, MAX_BODY_BYTES)

    async def known_guardrail(ref: str | None) -> None:
        """Attach only what exists (here or on another replica), so a typo fails here and not on every request."""
        if ref is None:
            return
        name, _, version = ref.partition(":")
        if await guardrails.find(name, version or "DRAFT") is None:
            raise InvalidRequest(f"guardrail {ref!r} is not defined; define it first (POST /admin/guardrails)")

    @router.get("/admin/guardrails")
    async def list_guardrails(request: Request) -> Any:
        await admin(request)
        known = {c.key: c.model_dump(mode="json") for c in guardrails.configs()}
        for stored in await control.store().guardrail_definitions():  # those other replicas defined, too
            known.setdefault((str(stored.get("name")), str(stored.get("version"))), stored)
        return ok({"data": list(known.values())})

    @router.post("/admin/guardrails")
    async def create_guardrail(request: Request) -> Any:
        await admin(request)
        config = validate(json_object(await read(request), "a guardrail definition"))
        if not storable(config.key):
            raise InvalidRequest("version: a version is DRAFT or a number of at most 40 digits (0-9)", param="version")
        definition = config.model_dump(mode="json")
        existing = await guardrails.find(config.name, config.version)
        if existing is not None:
            return same_or_conflict(existing.config.model_dump(mode="json"), definition)
        compiled = await asyncio.to_thread(guardrails.compile, config)  # loads the models its policies need
        # The database first: it decides between replicas defining the same version at once; then this replica.
        if not await control.store().put_guardrail(config.name, config.version, definition):
            return same_or_conflict(await control.store().guardrail_definition(config.name, config.version), definition)
        guardrails.register(compiled, replace=True)
        return ok(definition, 201)

    async def admin(request: Request) -> Principal:
        principal = request.scope[PRINCIPAL] = await control.authenticate(request.headers, "admin")
        return principal

    async def project_of(ref: str) -> Project:
        project = await control.store().find_project(text(ref, "project"))
        if project is None:
            raise NotFound(f"No project {ref!r}.")
        return project

    @router.get("/admin/projects")
    async def list_projects(request: Request) -> Any:
        await admin(request)
        return ok({"data": [project_json(p) for p in await control.store().list_projects()]})

    @router.post("/admin/projects")
    async def create_project(request: Request) -> Any:
        await admin(request)
        body: NewProject = parse(NewProject, await read(request))
        await known_guardrail(body.guardrail)
        if await control.store().find_project(body.name) is not None:
            raise InvalidRequest(f"A project named {body.name!r} exists already.", param="name")
        project = await control.store().create_project(body.name, body.org, body.limits(), body.guardrail)
        return ok(project_json(project), 201)

    @router.get("/admin/projects/{ref}")
    async def get_project(request: Request, ref: str) -> Any:
        await admin(request)
        return ok(project_json(await project_of(ref)))

    @router.patch("/admin/projects/{ref}")
    async def update_project(request: Request, ref: str) -> Any:
        await admin(request)
        project = await project_of(ref)
        changes: LimitFields = parse(LimitFields, await read(request))
        await known_guardrail(changes.guardrail)
        updated = await control.store().update_project(project.id, changes.model_dump(exclude_unset=True))
        assert updated is not None
        return ok(project_json(updated))

    @router.get("/admin/keys")
    async def list_keys(request: Request, project: str | None = None) -> Any:
        await admin(request)
        project_id = (await project_of(project)).id if project else None
        return ok({"data": [k.public() for k in await control.store().list_keys(project_id)]})

    def can_seal() -> None:
        """The server key is there (made now if need be) before anything is created, so no key is left half made."""
        try:
            control.secret_box(create=True)
        except (SealError, OSError) as exc:
            raise InternalError(f"Basalt cannot seal access key pairs: {exc}") from None

    async def access_key(key: ApiKey) -> dict[str, str]:
        problem = aws_keys.unusable(key)
        if problem is not None:
            raise InvalidRequest(f"{problem}; it cannot get an access key pair")
        can_seal()
        return (await control.issue_access_key(key)).public()

    @router.post("/admin/keys")
    async def create_key(request: Request) -> Any:
        await admin(request)
        body: NewKey = parse(NewKey, await read(request))
        await known_guardrail(body.guardrail)
        unknown = sorted(set(body.endpoints or ()) - set(ENDPOINTS))
        if unknown:
            raise InvalidRequest(f"endpoints: unknown {unknown}; known: {list(ENDPOINTS)}", param="endpoints")
        if body.project is None and not body.admin:
            raise InvalidRequest("project: a key belongs to a project (only admin keys may have none)", param="project")
        project = await project_of(body.project) if body.project else None
        if body.aws:
            can_seal()
        expires_at = body.expires_at or (time.time() + body.expires_in if body.expires_in else None)
        key, secret = await control.store().create_key(
            body.name,
            project,
            admin=body.admin,
            models=body.models,
            endpoints=body.endpoints,
            expires_at=expires_at,
            limits=body.limits(),
            guardrail=body.guardrail,
        )
        pair = await access_key(key) if body.aws else {}
        return ok({**key.public(), "key": secret, **pair}, 201)

    async def key_named(key_id: str) -> ApiKey:
        found = await control.store().get_key(text(key_id, "key_id"))
        if found is None:
            raise NotFound(f"No API key {key_id!r}.")
        return found[0]

    @router.post("/admin/keys/{key_id}/aws-credentials")
    async def create_access_key(request: Request, key_id: str) -> Any:
        await admin(request)
        return ok(await access_key(await key_named(key_id)), 201)

    @router.get("/admin/keys/{key_id}/aws-credentials")
    async def list_access_keys(request: Request, key_id: str) -> Any:
        await admin(request)
        key = await key_named(key_id)
        ids = await control.store().access_key_ids(key.id)
        return ok({"data": [{"key_id": key.id, "aws_access_key_id": i} for i in ids]})  # never the secrets

    @router.post("/admin/keys/{key_id}/revoke")
    @router.delete("/admin/keys/{key_id}")
    async def revoke_key(request: Request, key_id: str) -> Any:
        await admin(request)
        key = await control.store().revoke_key(text(key_id, "key_id"))
        if key is None:
            raise NotFound(f"No API key {key_id!r}.")
        control.auth.forget(key_id)
        return ok(key.public())

    async def report(principal: Principal, request: Request) -> Any:
        q = request.query_params
        group_by = [g for g in (q.get("group_by") or "day").split(",") if g]
        unknown = [g for g in group_by if g not in GROUPS]
        if unknown:
            raise InvalidRequest(f"group_by: unknown {unknown}; choose from {list(GROUPS)}", param="group_by")
        where: dict[str, Any] = {
            "project_id": text(q.get("project"), "project"),
            "key_id": text(q.get("key"), "key"),
            "model": text(q.get("model"), "model"),
            "since": timestamp(q.get("since"), "since"),
            "until": timestamp(q.get("until"), "until"),
            "trace_id": trace_id(q.get("trace_id")),
            "batch_id": text(q.get("batch"), "batch"),
        }
        if not principal.admin:
            # A tenant sees its own project and nothing else, whatever it asks for.
            own = principal.project_id
            if where["project_id"] not in (None, own):
                raise PermissionDenied("This key may only read the usage of its own project.")
            where["project_id"] = own
        try:  # this replica's rows first; a database that does not answer is a retryable error, not a hang
            await asyncio.wait_for(control.context().ledger.flush(), FLUSH_WAIT_SECONDS)
        except TimeoutError:
            raise Overloaded(
                "The usage ledger cannot reach its database right now, so the report would be incomplete; retry "
                "shortly.",
                retry_after=1,
            ) from None
        if q.get("records"):
            limit = q.get("limit") or "100"
            if not limit.isdigit() or not 1 <= int(limit) <= 10_000:
                raise InvalidRequest("limit: a whole number from 1 to 10000", param="limit")
            rows = await control.store().usage_records(where, int(limit))
            return ok({"data": rows})
        return ok({"group_by": group_by, "data": await control.store().usage_report(where, group_by)})

    @router.get("/admin/usage")
    async def admin_usage(request: Request) -> Any:
        return await report(await admin(request), request)

    @router.get("/v1/usage")
    async def own_usage(request: Request) -> Any:
        principal = request.scope[PRINCIPAL] = await control.authenticate(request.headers, "usage")
        return await report(principal, request)

    return router
