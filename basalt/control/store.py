"""The control plane's database: tenants, keys, guardrail definitions and the usage ledger.

SQLite (embedded, WAL) by default and PostgreSQL for several replicas, both through SQLAlchemy's async engine; the
schema is created and upgraded by Alembic on start.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, case, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import ColumnElement

from ..files import private_file
from . import keys
from .records import LIMIT_FIELDS, ApiKey, Limits, Project
from .schema import api_keys, aws_access_keys, guardrails, organizations, projects, usage

DEFAULT_ORG = "default"
GROUPS = ("day", "month", "model", "key", "project", "deployment", "status", "batch")
SETTLED = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd")


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine | None = None
        self._org_ids: dict[str, str] = {}

    def connect(self) -> Store:
        """Creates the engine (connections open lazily, on the event loop that first uses them)."""
        if self.url.startswith("sqlite") and ":///" in self.url:
            path = self.url.split(":///", 1)[1].partition("?")[0]
            if path and path != ":memory:" and not path.startswith("file:"):
                private_file(Path(path))  # keys' hashes and usage: readable by the owner only
        self.engine = create_async_engine(self.url, pool_pre_ping=not self.url.startswith("sqlite"))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        return self

    async def migrate(self) -> None:
        """Creates or upgrades the schema to the newest Alembic revision."""
        async with self.db.begin() as conn:
            await conn.run_sync(_migrate)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    @property
    def db(self) -> AsyncEngine:
        if self.engine is None:
            raise RuntimeError("the store is not started")
        return self.engine

    # Tenants ----------------------------------------------------------------------------------------------------

    async def org_id(self, name: str = DEFAULT_ORG) -> str:
        if name in self._org_ids:
            return self._org_ids[name]
        async with self.db.begin() as conn:
            found = (await conn.execute(select(organizations.c.id).where(organizations.c.name == name))).scalar()
            if found is None:
                found = keys.new_id("org")
                await conn.execute(insert(organizations).values(id=found, name=name, created_at=time.time()))
        self._org_ids[name] = found
        return found

    async def create_project(
        self, name: str, org: str = DEFAULT_ORG, limits: Limits | None = None, guardrail: str | None = None
    ) -> Project:
        project = Project(keys.new_id("proj"), await self.org_id(org), name, time.time(), limits or Limits(), guardrail)
        values = {"id": project.id, "org_id": project.org_id, "name": name, "created_at": project.created_at}
        async with self.db.begin() as conn:
            await conn.execute(insert(projects).values(**values, guardrail=guardrail, **project.limits.as_dict()))
        return project

    async def find_project(self, ref: str) -> Project | None:
        """A project by id or by name."""
        query = select(projects).where((projects.c.id == ref) | (projects.c.name == ref))
        async with self.db.connect() as conn:
            row = (await conn.execute(query)).first()
        return _project(row) if row is not None else None

    async def list_projects(self) -> list[Project]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(select(projects).order_by(projects.c.created_at))).all()
        return [_project(r) for r in rows]

    async def update_project(self, project_id: str, changes: dict[str, Any]) -> Project | None:
        allowed = {k: v for k, v in changes.items() if k in (*LIMIT_FIELDS, "guardrail", "name")}
        async with self.db.begin() as conn:
            if allowed:
                await conn.execute(update(projects).where(projects.c.id == project_id).values(**allowed))
        return await self.find_project(project_id)

    # Keys -------------------------------------------------------------------------------------------------------

    async def create_key(
        self,
        name: str,
        project: Project | None,
        *,
        admin: bool = False,
        models: Sequence[str] | None = None,
        endpoints: Sequence[str] | None = None,
        expires_at: float | None = None,
        limits: Limits | None = None,
        guardrail: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret form, which is shown once and never stored."""
        key_id, secret_key, secret_hash = keys.generate()
        record = ApiKey(
            id=key_id,
            org_id=project.org_id if project else await self.org_id(),
            project_id=project.id if project else None,
            name=name,
            hint=keys.hint(secret_key),
            admin=admin,
            models=tuple(models) if models is not None else None,
            endpoints=tuple(endpoints) if endpoints is not None else None,
            expires_at=expires_at,
            revoked_at=None,
            created_at=time.time(),
            limits=limits or Limits(),
            guardrail=guardrail,
        )
        values = record.public()
        values.pop("limits")
        async with self.db.begin() as conn:
            await conn.execute(insert(api_keys).values(**values, secret_hash=secret_hash, **record.limits.as_dict()))
        return record, secret_key

    async def get_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """A key and its stored hash."""
        async with self.db.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return (_key(row), row.secret_hash) if row is not None else None

    async def list_keys(self, project_id: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at)
        if project_id is not None:
            query = query.where(api_keys.c.project_id == project_id)
        async with self.db.connect() as conn:
            return [_key(r) for r in (await conn.execute(query)).all()]

    async def revoke_key(self, key_id: str) -> ApiKey | None:
        async with self.db.begin() as conn:
            stmt = update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            await conn.execute(stmt.values(revoked_at=time.time()))
        found = await self.get_key(key_id)
        return found[0] if found else None

    async def add_access_key(self, key_id: str, access_key_id: str, secret_sealed: str) -> bool:
        """Store an AWS-style pair of a key; False if the access key id is taken."""
        values = {"id": access_key_id, "key_id": key_id, "secret_sealed": secret_sealed, "created_at": time.time()}
        try:
            async with self.db.begin() as conn:
                await conn.execute(insert(aws_access_keys).values(**values))
        except IntegrityError:
            return False
        return True

    async def get_access_key(self, access_key_id: str) -> tuple[str, str] | None:
        """(the key id, the sealed secret) of an access key id."""
        query = select(aws_access_keys.c.key_id, aws_access_keys.c.secret_sealed).where(
            aws_access_keys.c.id == access_key_id
        )
        async with self.db.connect() as conn:
            row = (await conn.execute(query)).first()
        return (row.key_id, row.secret_sealed) if row is not None else None

    async def access_key_ids(self, key_id: str) -> list[str]:
        query = select(aws_access_keys.c.id).where(aws_access_keys.c.key_id == key_id)
        async with self.db.connect() as conn:
            return list((await conn.execute(query.order_by(aws_access_keys.c.created_at))).scalars())

    async def has_admin_key(self) -> bool:
        query = select(func.count()).select_from(api_keys).where(api_keys.c.admin, api_keys.c.revoked_at.is_(None))
        async with self.db.connect() as conn:
            return bool((await conn.execute(query)).scalar())

    # Guardrail definitions --------------------------------------------------------------------------------------

    async def put_guardrail(self, name: str, version: str, config: dict[str, Any]) -> bool:
        """Store a definition; False if (name, version) is taken already (a definition is written once)."""
        values = {"name": name, "version": version, "config": config, "created_at": time.time()}
        try:
            async with self.db.begin() as conn:
                await conn.execute(insert(guardrails).values(**values))
        except IntegrityError:
            return False
        return True

    async def guardrail_definition(self, name: str, version: str) -> dict[str, Any] | None:
        query = select(guardrails.c.config).where(guardrails.c.name == name, guardrails.c.version == version)
        async with self.db.connect() as conn:
            found = (await conn.execute(query)).scalar()
        return dict(found) if found is not None else None

    async def guardrail_definitions(self) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            rows = (await conn.execute(select(guardrails).order_by(guardrails.c.created_at))).all()
        return [dict(r.config) for r in rows]

    # Usage ledger -----------------------------------------------------------------------------------------------

    async def write_usage(self, new: list[dict[str, Any]], settled: list[dict[str, Any]]) -> None:
        """Reservations and settlements in one transaction: the ledger writer's group commit."""
        async with self.db.begin() as conn:
            if new:
                await conn.execute(insert(usage), new)
            if settled:
                columns = settled[0].keys() - {"request_id"}
                stmt = (
                    update(usage)
                    .where(usage.c.request_id == bindparam("rid"))
                    .values({c: bindparam(c) for c in columns})
                )
                rows = [{**{c: r[c] for c in columns}, "rid": r["request_id"]} for r in settled]
                await conn.execute(stmt, rows)

    async def existing_requests(self, request_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(request_ids), 500):
            query = select(usage.c.request_id).where(usage.c.request_id.in_(request_ids[start : start + 500]))
            async with self.db.connect() as conn:
                found.update((await conn.execute(query)).scalars())
        return found

    async def open_usage(self, instance: str) -> list[dict[str, Any]]:
        """This instance's reservations that were never settled (it was killed, or lost its database)."""
        query = select(usage).where(usage.c.instance == instance, usage.c.status == "reserved")
        async with self.db.connect() as conn:
            return [_plain(r) for r in (await conn.execute(query)).all()]

    async def usage_records(self, where: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
        query = select(usage).where(*_filters(where)).order_by(usage.c.started_at.desc()).limit(limit)
        async with self.db.connect() as conn:
            return [_plain(r) for r in (await conn.execute(query)).all()]

    async def usage_report(self, where: dict[str, Any], group_by: Iterable[str]) -> list[dict[str, Any]]:
        """Totals grouped by any of GROUPS, over the records matching `where` (project_id, key_id, model, trace_id,
        since, until)."""
        dialect = self.db.dialect.name
        columns = [_group_column(g, dialect).label(g) for g in group_by]
        totals = [
            func.count().label("requests"),
            func.count(usage.c.error_type).label("errors"),
            *(func.coalesce(func.sum(usage.c[c]), 0).label(c) for c in SETTLED),
        ]
        query = select(*columns, *totals).where(*_filters(where))
        if columns:
            query = query.group_by(*columns).order_by(*columns)
        async with self.db.connect() as conn:
            return [_plain(r) for r in (await conn.execute(query)).all()]

    async def spend_since(self, column: str, ref: str, since: float) -> float:
        """What a key or project has spent since a time, from the ledger (to seed budget counters)."""
        # An open reservation counts at its reserved cost; a settled one at its real cost.
        charged = case((usage.c.status == "reserved", usage.c.reserved_cost_usd), else_=usage.c.cost_usd)
        query = select(func.coalesce(func.sum(charged), 0.0)).where(usage.c[column] == ref, usage.c.started_at >= since)
        async with self.db.connect() as conn:
            return float((await conn.execute(query)).scalar() or 0.0)


def _migrate(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(Path(__file__).parent / "migrations" / "alembic.ini"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and the ledger writer work at once; NORMAL sync survives a killed process (not a power cut)
    # at a fraction of FULL's cost; the busy timeout lets several processes share one file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _filters(where: dict[str, Any]) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for name, value in where.items():
        if value is None:
            continue
        if name == "since":
            out.append(usage.c.started_at >= value)
        elif name == "until":
            out.append(usage.c.started_at < value)
        else:
            out.append(usage.c[name] == value)
    return [and_(*out)] if out else []


def _group_column(name: str, dialect: str) -> ColumnElement[Any]:
    if name in ("day", "month"):
        if dialect == "sqlite":
            return func.strftime("%Y-%m-%d" if name == "day" else "%Y-%m", usage.c.started_at, "unixepoch")
        utc = func.timezone("UTC", func.to_timestamp(usage.c.started_at))
        return func.to_char(utc, "YYYY-MM-DD" if name == "day" else "YYYY-MM")
    column = {"key": "key_id", "project": "project_id", "batch": "batch_id"}.get(name, name)
    return usage.c[column]


def _plain(row: Any) -> dict[str, Any]:
    # Column names come back as SQLAlchemy's quoted_name, a str subclass that JSON encoders refuse as a key.
    return {str(k): v for k, v in row._mapping.items()}


def _project(row: Any) -> Project:
    return Project(row.id, row.org_id, row.name, row.created_at, Limits.of(row), row.guardrail)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        org_id=row.org_id,
        project_id=row.project_id,
        name=row.name,
        hint=row.hint,
        admin=bool(row.admin),
        models=tuple(row.models) if row.models is not None else None,
        endpoints=tuple(row.endpoints) if row.endpoints is not None else None,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        limits=Limits.of(row),
        guardrail=row.guardrail,
    )
