"""The meter stage: reads the answer's events once, as they pass, into the call's outcome, and settles its ticket
(the ledger row, the limits' corrections) however the stream ends: done, failed, or left by the client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..canonical.fold import Folder
from ..control import Ticket
from ..errors import BasaltError
from ..providers.base import EventBatch
from .call import Call

PROGRESS_SECONDS = 1.0  # how often a long stream's output count is written, for a crash to lose at most this much


def counted(usage: dict[str, Any], deltas: int, cut: bool = False) -> dict[str, Any]:
    """The usage to settle with: the provider's figures, with the output counted from the deltas if it gave none (or
    the stream was cut before its final figures)."""
    if "output_tokens" not in usage or cut:
        usage["output_tokens"] = max(int(usage.get("output_tokens") or 0), deltas)
    return usage


async def metered(
    call: Call, ticket: Ticket, events: AsyncIterator[EventBatch], ended: Callable[[Call], None]
) -> AsyncIterator[EventBatch]:
    """The events unchanged; `ended(call)` runs once the outcome is complete."""
    outcome = call.outcome
    usage = outcome.usage
    deltas = 0
    next_progress = time.monotonic() + PROGRESS_SECONDS
    folder = Folder() if call.keep_output else None
    try:
        async for batch in events:
            for event in batch:
                if folder is not None:
                    folder.feed(event)
                kind = event["type"]
                if kind == "content_block_delta":
                    deltas += 1
                    if outcome.first_token is None:
                        outcome.first_token = time.monotonic()
                elif kind == "message_start":
                    message = event["message"]
                    outcome.response_id = message.get("id")
                    usage.update(message.get("usage") or {})
                elif kind == "message_delta":
                    usage.update(event.get("usage") or {})
                    outcome.stop_reason = (event.get("delta") or {}).get("stop_reason") or outcome.stop_reason
                    action = (event.get("guardrail") or {}).get("action")
                    if action:
                        ticket.guardrail_action = action
                elif kind == "message_stop":
                    # Settled before the client can see the end: an answer it has whole is never `interrupted`.
                    ticket.settle(counted(usage, deltas), "ok")
            if deltas and not ticket.settled and time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_SECONDS
                ticket.progress(deltas)
            yield batch
        outcome.status = "ok"
    except BasaltError as exc:
        outcome.error = exc
        raise
    except (GeneratorExit, asyncio.CancelledError):
        outcome.status = "cancelled"
        raise
    finally:
        outcome.output_deltas = deltas
        if folder is not None:
            outcome.message = folder.message
        error_type = outcome.error.error_type if outcome.error else "api_error" if outcome.status == "error" else None
        ticket.settle(counted(usage, deltas, outcome.status == "cancelled"), outcome.status, error_type)
        ended(call)
