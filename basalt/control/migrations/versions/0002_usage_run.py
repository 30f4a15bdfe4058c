"""The run that reserved each usage row, so a restart reconciles only the rows of runs that died.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage", sa.Column("run", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("run")
