"""The batch engine's records: what a dialect submits and what it reads back, as plain frozen dataclasses.

The engine speaks the canonical (Anthropic-shaped) form only; each batch dialect (Anthropic Message Batches, OpenAI
Batch) decodes its own wire format into `NewItem`s and renders `BatchInfo` and `ItemResult` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..canonical import MessagesRequest
from ..errors import BasaltError

KINDS = ("anthropic", "openai", "eval")  # eval: an evaluation run's sampling or judging calls (basalt/evals/)
ID_PREFIX = {"anthropic": "msgbatch", "openai": "batch", "eval": "evalbatch"}
# Engine statuses of a batch: validating until its dialect has read its input into items (OpenAI's, read after the
# create call returns); items are taken while in_progress; canceling lets started items finish; finalizing while its
# dialect writes what it writes once the items are done (OpenAI's output files); ended is final.
STATUSES = ("validating", "in_progress", "canceling", "finalizing", "ended")
PHASES = ("validating", "finalizing")  # the statuses a claim-holding worker moves on (batches/phases.py)
FINALIZED_KINDS = ("openai",)  # kinds whose batches pass through finalizing before they end
# States of an item: queued and running are "processing"; the other four are its result, written once.
FINAL = ("succeeded", "errored", "canceled", "expired")


@dataclass(frozen=True)
class NewItem:
    custom_id: str
    endpoint: str  # "messages" | "chat.completions": the endpoint scope the item is admitted under
    request: MessagesRequest | None  # the decoded canonical request; None when the line was bad
    error: BasaltError | None = None  # why the line is bad (becomes the item's error result, never runs)


@dataclass(frozen=True)
class Counts:
    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0

    @property
    def total(self) -> int:
        return self.processing + self.succeeded + self.errored + self.canceled + self.expired


@dataclass(frozen=True)
class BatchInfo:
    id: str  # "msgbatch_..." for kind "anthropic", "batch_..." for kind "openai"
    kind: str  # "anthropic" | "openai"
    status: str  # engine status: one of STATUSES
    counts: Counts
    created_at: float
    ended_at: float | None
    expires_at: float
    cancel_initiated_at: float | None
    archived_at: float | None
    started_at: float | None  # when the first item began
    metadata: dict[str, str] = field(default_factory=dict)  # caller metadata (OpenAI's), stored as given
    owner: str | None = None  # the project id (or key id) the batch belongs to; listing is per owner
    extra: dict[str, Any] = field(default_factory=dict)  # the dialect's own fields, kept verbatim


@dataclass(frozen=True)
class ItemResult:
    custom_id: str
    status: str  # "succeeded" | "errored" | "canceled" | "expired"
    message: dict[str, Any] | None  # the canonical (Anthropic-shaped) message, as fold_events makes it
    error: dict[str, Any] | None  # {"type": error_type, "message": ..., "status": http status}
    request_id: str | None  # the item's request id (its ledger row's)
    position: int  # the item's index in the submitted list
