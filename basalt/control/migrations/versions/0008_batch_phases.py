"""Batch phases and file expiry: a claim on a batch (so that one worker of one replica validates an OpenAI batch's
input, or writes its output files, exactly once), and an expiry time on stored files (OpenAI's `expires_after`).

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("claim_id", sa.String(40)))
    op.add_column("batches", sa.Column("claim_until", sa.Float))
    op.add_column("files", sa.Column("expires_at", sa.BigInteger))
    op.create_index("ix_files_expires", "files", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_files_expires", "files")
    with op.batch_alter_table("files") as files:
        files.drop_column("expires_at")
    with op.batch_alter_table("batches") as batches:
        batches.drop_column("claim_until")
        batches.drop_column("claim_id")
