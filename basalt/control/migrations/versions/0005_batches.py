"""Batches: jobs and their items (leased by workers in every replica), and the batch id on each usage row.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(40)),
        sa.Column("key_id", sa.String(40)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("processing", sa.Integer, nullable=False, server_default="0"),
        sa.Column("succeeded", sa.Integer, nullable=False, server_default="0"),
        sa.Column("errored", sa.Integer, nullable=False, server_default="0"),
        sa.Column("canceled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("expired", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("cancel_initiated_at", sa.Float),
        sa.Column("archived_at", sa.Float),
        sa.Column("metadata", sa.JSON),
        sa.Column("extra", sa.JSON),
    )
    op.create_index("ix_batches_status", "batches", ["status", "id"])
    op.create_index("ix_batches_owner", "batches", ["kind", "owner", "id"])
    op.create_table(
        "batch_items",
        sa.Column("batch_id", sa.String(40), sa.ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("custom_id", sa.String(512), nullable=False),
        sa.Column("endpoint", sa.String(40), nullable=False),
        sa.Column("request", sa.JSON),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_id", sa.String(40)),
        sa.Column("lease_expires", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("instance", sa.String(200)),
        sa.Column("run", sa.String(40)),
        sa.Column("result", sa.JSON),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_batch_items_state", "batch_items", ["batch_id", "state", "position"])
    op.create_index("ix_batch_items_lease", "batch_items", ["lease_id"])
    op.add_column("usage", sa.Column("batch_id", sa.String(40)))
    # Partial, like the trace index: interactive calls (most rows) are not in it.
    where = sa.text("batch_id IS NOT NULL")
    op.create_index("ix_usage_batch", "usage", ["batch_id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_usage_batch", "usage")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("batch_id")
    op.drop_table("batch_items")
    op.drop_table("batches")
