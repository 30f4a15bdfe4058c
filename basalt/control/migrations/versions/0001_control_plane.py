"""Control plane: organisations, projects, API keys, guardrail definitions and the usage ledger.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def limits() -> list[sa.Column[object]]:
    return [
        sa.Column("rpm", sa.Integer),
        sa.Column("input_tpm", sa.Integer),
        sa.Column("output_tpm", sa.Integer),
        sa.Column("max_concurrency", sa.Integer),
        sa.Column("daily_budget_usd", sa.Float),
        sa.Column("monthly_budget_usd", sa.Float),
    ]


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("org_id", sa.String(40), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("guardrail", sa.String(200)),
        *limits(),
    )
    op.create_index("ix_projects_org_name", "projects", ["org_id", "name"], unique=True)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("org_id", sa.String(40), sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("project_id", sa.String(40), sa.ForeignKey("projects.id")),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("models", sa.JSON),
        sa.Column("endpoints", sa.JSON),
        sa.Column("expires_at", sa.Float),
        sa.Column("revoked_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("guardrail", sa.String(200)),
        *limits(),
    )
    op.create_table(
        "usage",
        sa.Column("request_id", sa.String(40), primary_key=True),
        sa.Column("org_id", sa.String(40)),
        sa.Column("project_id", sa.String(40)),
        sa.Column("key_id", sa.String(40)),
        sa.Column("endpoint", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("deployment", sa.String(300)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_type", sa.String(40)),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cache_read_tokens", sa.Integer, nullable=False),
        sa.Column("cache_write_tokens", sa.Integer, nullable=False),
        sa.Column("reserved_input_tokens", sa.Integer, nullable=False),
        sa.Column("reserved_output_tokens", sa.Integer, nullable=False),
        sa.Column("reserved_cost_usd", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("guardrail_action", sa.String(40)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_usage_project_started", "usage", ["project_id", "started_at"])
    op.create_index("ix_usage_key_started", "usage", ["key_id", "started_at"])
    op.create_index("ix_usage_open", "usage", ["instance", "status"])
    op.create_table(
        "guardrails",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(40), primary_key=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("guardrails", "usage", "api_keys", "projects", "organizations"):
        op.drop_table(table)
