"""`basalt projects ...`, `basalt keys ...` and `basalt usage`: the admin operations, straight on the database."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from ..config import Settings
from ..errors import BasaltError
from . import aws_keys, sealing
from .admin import LimitFields, NewKey, NewProject, timestamp, trace_id
from .bounds import text
from .principal import ENDPOINTS
from .records import LIMIT_FIELDS, ApiKey, Project
from .store import GROUPS, Store

Command = Callable[[Store, argparse.Namespace], Awaitable[int]]


class CommandError(Exception):
    """A mistake in the command line, told to the user as `basalt: <message>` with exit status 1."""


async def project_named(store: Store, ref: str | None) -> Project | None:
    if ref is None:
        return None
    project = await store.find_project(text(ref, "project"))
    if project is None:  # never quietly fall back to every project's data
        raise CommandError(f"no project {ref!r}")
    return project


def print_table(rows: Sequence[Sequence[Any]]) -> None:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    for row in cells:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def duration(text: str) -> float:
    """Seconds from `90d`, `12h`, `30m` or plain seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhms]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 30d, 12h, 45m or 3600, got {text!r}")
    return float(match[1]) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[match[2]]


def checked(model: type[BaseModel], args: argparse.Namespace, **fields: Any) -> Any:
    """The options, held to the same bounds as the admin API's payloads (so the columns hold every value)."""
    given = {name: getattr(args, name, None) for name in (*LIMIT_FIELDS, "guardrail")}
    try:
        return model.model_validate({k: v for k, v in {**given, **fields}.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CommandError(problems) from None


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--input-tpm", type=int, help="input tokens per minute")
    parser.add_argument("--output-tpm", type=int, help="output tokens per minute")
    parser.add_argument("--max-concurrency", type=int, help="requests at once")
    parser.add_argument("--daily-budget-usd", type=float, help="spend limit per UTC day")
    parser.add_argument("--monthly-budget-usd", type=float, help="spend limit per UTC month")
    parser.add_argument("--guardrail", help="guardrail name:version applied to every request")


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


async def projects_create(store: Store, args: argparse.Namespace) -> int:
    body: NewProject = checked(NewProject, args, name=args.name, org=args.org)
    project = await store.create_project(body.name, body.org, body.limits(), body.guardrail)
    print(project.id)
    return 0


async def projects_list(store: Store, args: argparse.Namespace) -> int:
    rows: list[Sequence[Any]] = [("ID", "NAME", "CREATED", *(f.upper() for f in LIMIT_FIELDS))]
    for p in await store.list_projects():
        rows.append((p.id, p.name, when(p.created_at), *(getattr(p.limits, f) or "-" for f in LIMIT_FIELDS)))
    print_table(rows)
    return 0


async def projects_update(store: Store, args: argparse.Namespace) -> int:
    project = await project_named(store, args.project)
    assert project is not None
    body: LimitFields = checked(LimitFields, args)
    changes = body.model_dump(exclude_none=True)
    await store.update_project(project.id, changes)
    return 0


def secret_box(args: argparse.Namespace) -> sealing.SecretBox:
    """The server key that seals pairs' secrets: the one the server reads (made in the home on first use)."""
    settings: Settings = args.settings
    try:
        box = sealing.load(settings.home, settings.control.secret_key_env, create=True)
    except (sealing.SealError, OSError) as exc:
        raise CommandError(f"cannot seal access key pairs: {exc}") from None
    assert box is not None
    return box


async def print_access_key(store: Store, box: sealing.SecretBox, key: ApiKey) -> None:
    pair = await aws_keys.issue(store, box, key)
    print(f"AWS_ACCESS_KEY_ID={pair.access_key_id}")
    print(f"AWS_SECRET_ACCESS_KEY={pair.secret_access_key}")


async def keys_create(store: Store, args: argparse.Namespace) -> int:
    models = args.models.split(",") if args.models else None
    body: NewKey = checked(NewKey, args, name=args.name, models=models, expires_in=args.expires_in)
    project = await project_named(store, args.project)
    if project is None and not args.admin:
        print("basalt: a key needs --project (or --admin)", file=sys.stderr)
        return 1
    endpoints = args.endpoints.split(",") if args.endpoints else None
    unknown = sorted(set(endpoints or ()) - set(ENDPOINTS))
    if unknown:
        print(f"basalt: unknown endpoints {unknown}; known: {', '.join(ENDPOINTS)}", file=sys.stderr)
        return 1
    box = secret_box(args) if args.aws else None  # before the key, so a key is never left without its pair
    key, secret = await store.create_key(
        args.name,
        project,
        admin=args.admin,
        models=body.models,
        endpoints=endpoints,
        expires_at=time.time() + body.expires_in if body.expires_in else None,
        limits=body.limits(),
        guardrail=body.guardrail,
    )
    shown = "key and its access key pair are" if box else "key is"
    print(f"created {key.id}; this is the only time the {shown} shown:", file=sys.stderr)
    print(secret)
    if box is not None:
        await print_access_key(store, box, key)
    return 0


async def keys_aws(store: Store, args: argparse.Namespace) -> int:
    found = await store.get_key(text(args.key_id, "key_id"))
    if found is None:
        raise CommandError(f"no key {args.key_id!r}")
    problem = aws_keys.unusable(found[0])
    if problem is not None:
        raise CommandError(f"{problem}; it cannot get an access key pair")
    box = secret_box(args)
    print(f"an access key pair for {args.key_id}; this is the only time its secret is shown:", file=sys.stderr)
    await print_access_key(store, box, found[0])
    return 0


async def keys_list(store: Store, args: argparse.Namespace) -> int:
    project = await project_named(store, args.project)
    rows: list[Sequence[Any]] = [("ID", "NAME", "PROJECT", "HINT", "ADMIN", "MODELS", "EXPIRES", "REVOKED")]
    for k in await store.list_keys(project.id if project else None):
        models = ",".join(k.models) if k.models is not None else "*"
        project_id = k.project_id or "-"
        rows.append((k.id, k.name, project_id, k.hint, k.admin, models, when(k.expires_at), when(k.revoked_at)))
    print_table(rows)
    return 0


async def keys_revoke(store: Store, args: argparse.Namespace) -> int:
    key = await store.revoke_key(text(args.key_id, "key_id"))
    if key is None:
        print(f"basalt: no key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {key.id}")
    return 0


async def usage(store: Store, args: argparse.Namespace) -> int:
    group_by = args.by.split(",")
    unknown = [g for g in group_by if g not in GROUPS]
    if unknown:
        print(f"basalt: cannot group by {unknown}; choose from {', '.join(GROUPS)}", file=sys.stderr)
        return 1
    project = await project_named(store, args.project)
    where = {
        "project_id": project.id if project else None,
        "key_id": text(args.key, "--key"),
        "model": text(args.model, "--model"),
        "since": timestamp(args.since, "since"),
        "until": timestamp(args.until, "until"),
        "trace_id": trace_id(args.trace_id),
    }
    rows = await store.usage_report(where, group_by)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = [*group_by, "requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd"]
    table: list[Sequence[Any]] = [[c.upper() for c in columns]]
    for row in rows:
        table.append([f"{row[c]:.6f}" if c == "cost_usd" else row[c] for c in columns])
    print_table(table)
    return 0


def run(command: Command) -> Callable[[argparse.Namespace], int]:
    def main(args: argparse.Namespace) -> int:
        settings = Settings.load(args.config)

        args.settings = settings  # for the commands that need more than the database

        async def go() -> int:
            store = Store(settings.database_url()).connect()
            try:
                await store.migrate()
                return await command(store, args)
            except (CommandError, BasaltError) as exc:
                print(f"basalt: {exc}", file=sys.stderr)
                return 1
            finally:
                await store.close()

        return asyncio.run(go())

    return main


def register(sub: Any) -> None:
    """Adds the projects, keys and usage commands to the `basalt` parser."""

    def command(parent: Any, name: str, help: str, func: Command) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, help=help)
        parser.add_argument("--config", default=None, help="YAML configuration file (for the database URL)")
        parser.set_defaults(func=run(func))
        return parser

    projects = sub.add_parser("projects", help="manage projects (tenants)").add_subparsers(dest="action", required=True)
    p = command(projects, "create", "create a project", projects_create)
    p.add_argument("name")
    p.add_argument("--org", default="default")
    add_limit_options(p)
    command(projects, "list", "list projects", projects_list)
    p = command(projects, "update", "change a project's limits or guardrail", projects_update)
    p.add_argument("project", help="id or name")
    add_limit_options(p)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="action", required=True)
    p = command(keys, "create", "create a key; prints it once", keys_create)
    p.add_argument("--name", required=True)
    p.add_argument("--project", help="project id or name")
    p.add_argument("--admin", action="store_true", help="an admin key (manages projects, keys, usage)")
    p.add_argument("--models", help="comma-separated model names or glob patterns this key may use")
    p.add_argument("--endpoints", help=f"comma-separated endpoints this key may call: {', '.join(ENDPOINTS)}")
    p.add_argument("--expires-in", type=duration, help="lifetime, e.g. 90d")
    p.add_argument("--aws", action="store_true", help="also an AWS-style access key pair, for SigV4 (Bedrock) clients")
    add_limit_options(p)
    p = command(keys, "list", "list keys (never their secrets)", keys_list)
    p.add_argument("--project")
    p = command(keys, "revoke", "revoke a key", keys_revoke)
    p.add_argument("key_id")
    p = command(keys, "aws", "issue an AWS-style access key pair for a key; prints it once", keys_aws)
    p.add_argument("key_id")

    p = command(sub, "usage", "usage and cost report", usage)
    p.add_argument("--by", default="day", help=f"comma-separated grouping: {', '.join(GROUPS)}")
    p.add_argument("--project")
    p.add_argument("--key")
    p.add_argument("--model")
    p.add_argument("--since", help="ISO date or Unix seconds")
    p.add_argument("--until", help="ISO date or Unix seconds")
    p.add_argument("--trace-id", help="only the calls of this W3C trace (32 hex digits)")
    p.add_argument("--json", action="store_true")
