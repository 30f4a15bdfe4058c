"""The batch engine's tables, in the control plane's metadata (one database, one set of Alembic migrations).

An item's row is its whole life: the request as submitted, its fixed request id (its ledger row's), who holds it
(lease id and expiry, and the instance and run that took it), and its result, written once.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from ..control.schema import metadata

batches = Table(
    "batches",
    metadata,
    Column("id", String(40), primary_key=True),  # time-ordered: listing newest first is ordering by id
    Column("kind", String(16), nullable=False),
    Column("owner", String(40)),  # the project id, or the key id of a key without one; NULL with auth off
    Column("key_id", String(40)),  # the submitting key, to rebuild its principal when items run
    Column("status", String(16), nullable=False),  # validating | in_progress | canceling | finalizing | ended
    Column("processing", Integer, nullable=False, default=0),
    Column("succeeded", Integer, nullable=False, default=0),
    Column("errored", Integer, nullable=False, default=0),
    Column("canceled", Integer, nullable=False, default=0),
    Column("expired", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("cancel_initiated_at", Float),
    Column("archived_at", Float),
    Column("metadata", JSON),
    Column("extra", JSON),
    # Who runs the batch's current phase (validating its input, or writing its outputs) and until when (0008).
    Column("claim_id", String(40)),
    Column("claim_until", Float),
    Index("ix_batches_status", "status", "id"),
    Index("ix_batches_owner", "kind", "owner", "id"),
)

batch_items = Table(
    "batch_items",
    metadata,
    Column("batch_id", String(40), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("custom_id", String(512), nullable=False),
    Column("endpoint", String(40), nullable=False),
    Column("request", JSON),  # the canonical request; NULL for a line that was bad (its result is the error)
    Column("request_id", String(40), nullable=False),  # fixed at submit, so a rerun settles the same ledger row
    # queued | running | succeeded | errored | canceled | expired
    Column("state", String(16), nullable=False),
    Column("lease_id", String(40)),
    Column("lease_expires", Float),  # a running item whose lease has passed is anyone's to take again
    Column("attempts", Integer, nullable=False, default=0),
    Column("instance", String(200)),  # the instance and run that last took it
    Column("run", String(40)),
    Column("result", JSON),  # the message (succeeded) or the error (errored)
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("detail", Text),
    Index("ix_batch_items_state", "batch_id", "state", "position"),
    Index("ix_batch_items_lease", "lease_id"),
)
