"""An item's row as submitted, and an errored item's result: shared by submit (engine.py), the validating phase
(phases.py) and the worker."""

from __future__ import annotations

import time
from typing import Any

from ..errors import BasaltError, InvalidRequest
from . import ids
from .types import NewItem


def error_result(error: BasaltError) -> dict[str, Any]:
    """An errored item's result: what a single call with the same request would have answered."""
    return {"type": error.error_type, "message": error.message, "status": error.status}


def item_rows(batch_id: str, items: list[NewItem]) -> list[dict[str, Any]]:
    return [_item_row(batch_id, position, item) for position, item in enumerate(items)]


def _item_row(batch_id: str, position: int, item: NewItem) -> dict[str, Any]:
    bad = item.request is None or item.error is not None
    error = item.error or InvalidRequest("The request could not be decoded.")
    return {
        "batch_id": batch_id,
        "position": position,
        "custom_id": item.custom_id,
        "endpoint": item.endpoint,
        # What the caller sent, fields it left out omitted, so that decoding it again gives the same request.
        "request": None
        if item.request is None
        else item.request.model_dump(mode="json", exclude_unset=True, by_alias=True),
        "request_id": ids.item_request_id(batch_id, position),
        "state": "errored" if bad else "queued",
        "attempts": 0,
        "result": error_result(error) if bad else None,
        "finished_at": time.time() if bad else None,
    }
