"""The trace id of each usage row, so a cost line leads to its trace; indexed where there is one.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage", sa.Column("trace_id", sa.String(32)))
    # Partial on both databases: rows without a trace (most, with tracing off) are not in the index at all.
    where = sa.text("trace_id IS NOT NULL")
    op.create_index("ix_usage_trace", "usage", ["trace_id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_usage_trace", "usage")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("trace_id")
