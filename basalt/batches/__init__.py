"""Batches: durable jobs of items in the control database, run by workers in every replica through the one flow.

The dialects (Anthropic Message Batches here, OpenAI Batch beside it) decode their wire formats into `NewItem`s and
render `BatchInfo` and `ItemResult` back; `BatchEngine` is the one engine behind them (`Platform.batches`).
"""

from .engine import BatchEngine, owner_of
from .types import FINAL, BatchInfo, Counts, ItemResult, NewItem

__all__ = ["FINAL", "BatchEngine", "BatchInfo", "Counts", "ItemResult", "NewItem", "owner_of"]
