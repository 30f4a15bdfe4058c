"""OpenAI's statuses and result lines, derived from the engine's records (the states the e2e tests cannot reach
quickly: expiry, a batch read between its end and its files)."""

from __future__ import annotations

from typing import Any

from basalt.batches.types import BatchInfo, Counts, ItemResult
from basalt.dialects.openai_batch_output import line_of, request_line_id
from basalt.dialects.openai_batches import batch_object, status_of


def info(status: str, counts: Counts, **fields: Any) -> BatchInfo:
    base: dict[str, Any] = {
        "id": "batch_x", "kind": "openai", "status": status, "counts": counts, "created_at": 100.0,
        "ended_at": None, "expires_at": 86500.0, "cancel_initiated_at": None, "archived_at": None,
        "started_at": None, "extra": {"input_file_id": "file-1", "endpoint": "/v1/chat/completions"},
    }  # fmt: skip
    return BatchInfo(**{**base, **fields})


def test_statuses() -> None:
    done = {"input_file_id": "file-1", "output_file_id": "file-2", "completed_at": 170}
    validating = batch_object(info("validating", Counts()))
    assert validating["status"] == "validating" and validating["in_progress_at"] is None
    assert validating["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert status_of(info("in_progress", Counts(processing=2))) == "in_progress"
    assert status_of(info("canceling", Counts(processing=1), cancel_initiated_at=150.0)) == "cancelling"
    assert status_of(info("ended", Counts(canceled=1), cancel_initiated_at=150.0, ended_at=160.0)) == "cancelled"
    finalizing = batch_object(info("finalizing", Counts(succeeded=1), ended_at=160.0))  # files being written
    assert (finalizing["status"], finalizing["finalizing_at"], finalizing["completed_at"]) == ("finalizing", 160, None)
    completed = batch_object(info("ended", Counts(succeeded=1), ended_at=160.0, extra=done))
    assert (completed["status"], completed["finalizing_at"], completed["completed_at"]) == ("completed", 160, 170)
    expired = info("ended", Counts(succeeded=1, expired=2), ended_at=86600.0, extra=done)
    assert status_of(expired) == "expired"
    shown = batch_object(expired)
    assert (shown["expired_at"], shown["completed_at"], shown["cancelled_at"]) == (170, None, None)
    assert shown["request_counts"] == {"total": 3, "completed": 1, "failed": 0}
    failed = info("ended", Counts(), ended_at=100.0, extra={"errors": [{"code": "empty_file", "line": None}]})
    shown = batch_object(failed)
    assert shown["status"] == "failed" and shown["failed_at"] == 100 and shown["in_progress_at"] is None
    assert shown["errors"] == {"object": "list", "data": [{"code": "empty_file", "line": None}]}


def test_result_lines() -> None:
    expired = line_of(ItemResult("e", "expired", None, None, None, 3), "batch_x")
    assert expired == {
        "id": request_line_id("batch_x", 3),
        "custom_id": "e",
        "response": None,
        "error": {"code": "batch_expired", "message": expired["error"]["message"]},
    }
    overloaded = {"type": "overloaded_error", "message": "busy", "status": 529}
    errored = line_of(ItemResult("o", "errored", None, overloaded, "req_1", 4), "batch_x")
    assert errored["error"] is None and errored["response"]["status_code"] == 503  # as OpenAI's SDK reads it
    assert errored["response"]["body"]["error"] == {
        "message": "busy", "type": "server_error", "param": None, "code": "overloaded",
    }  # fmt: skip
    assert request_line_id("batch_x", 3) == request_line_id("batch_x", 3) != request_line_id("batch_x", 4)
