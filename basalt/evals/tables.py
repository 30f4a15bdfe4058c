"""The evals room's tables, on the control plane's metadata (one database, one set of Alembic migrations).

An eval is its definition; a run is a state machine over batches of the batch engine (sampling, then the judges'
calls), advanced by whichever replica's driver looks next; an output item is one data-source item with its sample and
its grades, written once when the run is graded.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table

from ..control.schema import metadata

evals = Table(
    "evals",
    metadata,
    Column("id", String(40), primary_key=True),  # "eval_" + a time-ordered id
    Column("owner", String(40)),  # the project id, or the key id of a key without one; NULL with auth off
    Column("name", String(256), nullable=False),
    Column("data_source_config", JSON, nullable=False),
    Column("testing_criteria", JSON, nullable=False),
    Column("metadata", JSON),
    Column("created_at", Float, nullable=False),
    Index("ix_evals_owner", "owner", "id"),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(40), primary_key=True),  # "evalrun_" + a time-ordered id
    Column("eval_id", String(40), ForeignKey("evals.id", ondelete="CASCADE"), nullable=False),
    Column("owner", String(40)),
    Column("key_id", String(40)),  # the creating key: the judges' batch is submitted as it
    Column("name", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    Column("status", String(16), nullable=False),  # in_progress | completed | canceled | failed
    Column("stage", String(16), nullable=False),  # sampling | judging | done
    Column("sample_batch", String(40)),  # the sampling batch (none for a data source that brings its samples)
    Column("judge_batch", String(40)),  # the model graders' calls, submitted once sampling has ended
    Column("items", Integer, nullable=False),
    Column("data_source", JSON, nullable=False),  # as the caller gave it (inline items not repeated)
    Column("summary", JSON),  # result_counts, per_testing_criteria_results, per_model_usage once graded
    Column("error", JSON),
    Column("metadata", JSON),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Index("ix_eval_runs_eval", "eval_id", "id"),
    Index("ix_eval_runs_status", "status"),
)

eval_output_items = Table(
    "eval_output_items",
    metadata,
    Column("run_id", String(40), ForeignKey("eval_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),  # the item's index in the data source
    Column("item", JSON, nullable=False),  # the data-source item ({"item": ..., "sample": ...} as given)
    Column("status", String(16), nullable=False),  # pending | pass | fail | error
    Column("sample", JSON),
    Column("results", JSON),
    Column("created_at", Float, nullable=False),
    Index("ix_eval_output_items_status", "run_id", "status", "position"),
)
