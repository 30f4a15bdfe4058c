"""The control plane's tables, as SQLAlchemy Core metadata (Alembic migrations are written against this).

Times are Unix seconds (floats) so SQLite and PostgreSQL compare them the same way; money is USD as a float,
which is exact enough for metering at micro-dollar scale and is what the price table is written in.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, text

metadata = MetaData()


def _limits() -> list[Column[object]]:
    """The limits a key and a project can each carry; NULL means unlimited."""
    return [
        Column("rpm", Integer),
        Column("input_tpm", Integer),
        Column("output_tpm", Integer),
        Column("max_concurrency", Integer),
        Column("daily_budget_usd", Float),
        Column("monthly_budget_usd", Float),
    ]


organizations = Table(
    "organizations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("guardrail", String(200)),  # "name:version" applied to every request of the project
    *_limits(),
    Index("ix_projects_org_name", "org_id", "name", unique=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),  # public id, also the key's lookup prefix
    Column("org_id", String(40), ForeignKey("organizations.id"), nullable=False),
    Column("project_id", String(40), ForeignKey("projects.id")),  # NULL for admin keys
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False),  # sha256 of the secret part; the key itself is never stored
    Column("hint", String(16), nullable=False),  # the last characters, to recognise a key in a listing
    Column("admin", Boolean, nullable=False, default=False),
    Column("models", JSON),  # glob patterns of model names this key may call; NULL: all
    Column("endpoints", JSON),  # endpoint names this key may call; NULL: all but admin
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("created_at", Float, nullable=False),
    Column("guardrail", String(200)),
    *_limits(),
)

aws_access_keys = Table(
    "aws_access_keys",
    metadata,
    Column("id", String(40), primary_key=True),  # the access key id (BSLT...), in clear: SigV4 sends it in clear
    Column("key_id", String(40), ForeignKey("api_keys.id"), nullable=False),  # the Basalt key it acts for
    Column("secret_sealed", String(200), nullable=False),  # the secret access key, AES-GCM sealed (sealing.py)
    Column("created_at", Float, nullable=False),
    Index("ix_aws_access_keys_key", "key_id"),
)

usage = Table(
    "usage",
    metadata,
    Column("request_id", String(40), primary_key=True),
    Column("org_id", String(40)),
    Column("project_id", String(40)),
    Column("key_id", String(40)),
    Column("endpoint", String(40), nullable=False),
    Column("model", String(200), nullable=False),
    Column("deployment", String(300)),
    # reserved -> ok | error | cancelled, or interrupted when a restart finds it still reserved
    Column("status", String(16), nullable=False),
    Column("error_type", String(40)),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cache_read_tokens", Integer, nullable=False, default=0),
    Column("cache_write_tokens", Integer, nullable=False, default=0),
    Column("reserved_input_tokens", Integer, nullable=False, default=0),
    Column("reserved_output_tokens", Integer, nullable=False, default=0),
    Column("reserved_cost_usd", Float, nullable=False, default=0.0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("latency_ms", Float),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("instance", String(200), nullable=False),
    Column("run", String(40)),  # the ledger run (journal.new_run) that reserved it; NULL before revision 0002
    Column("guardrail_action", String(40)),
    Column("detail", Text),
    Column("trace_id", String(32)),  # the call's W3C trace id (32 hex digits); NULL when it had none
    Column("batch_id", String(40)),  # the batch an item's call belongs to; NULL for interactive calls
    Index("ix_usage_project_started", "project_id", "started_at"),
    Index("ix_usage_key_started", "key_id", "started_at"),
    Index("ix_usage_open", "instance", "status"),
    # Partial: only rows with a trace are indexed, so calls without one cost the ledger's writes nothing more.
    Index(
        "ix_usage_trace",
        "trace_id",
        sqlite_where=text("trace_id IS NOT NULL"),
        postgresql_where=text("trace_id IS NOT NULL"),
    ),
    Index(
        "ix_usage_batch",
        "batch_id",
        sqlite_where=text("batch_id IS NOT NULL"),
        postgresql_where=text("batch_id IS NOT NULL"),
    ),
)

guardrails = Table(
    "guardrails",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", String(40), primary_key=True),
    Column("config", JSON, nullable=False),  # the guardrail's definition, as the admin API accepted it
    Column("created_at", Float, nullable=False),
)
