"""AWS-style access key pairs of API keys, their secrets sealed under the server key, for SigV4.

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aws_access_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.String(40), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("secret_sealed", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_aws_access_keys_key", "aws_access_keys", ["key_id"])


def downgrade() -> None:
    op.drop_table("aws_access_keys")
