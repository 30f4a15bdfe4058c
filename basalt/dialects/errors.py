"""Error bodies in each dialect's shape."""

from __future__ import annotations

from typing import Any

from ..errors import BasaltError

OPENAI_TYPES = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "permission_error": ("invalid_request_error", "insufficient_permissions"),
    "not_found_error": ("invalid_request_error", "model_not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "api_error": ("server_error", None),
    "timeout_error": ("server_error", "timeout"),
    "overloaded_error": ("server_error", "overloaded"),
}


def anthropic_error(error: BasaltError, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error.error_type, "message": error.message}, "request_id": request_id}


def openai_error(error: BasaltError) -> dict[str, Any]:
    kind, code = OPENAI_TYPES.get(error.error_type, ("server_error", None))
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": code}}


def openai_status(error: BasaltError) -> int:
    return 503 if error.status == 529 else error.status


def either_error(error: BasaltError, request_id: str) -> dict[str, Any]:
    """For routes both dialects share (GET /v1/models): a body each SDK reads as its own."""
    body = anthropic_error(error, request_id)
    _, code = OPENAI_TYPES.get(error.error_type, ("server_error", None))
    body["error"].update({"param": error.param, "code": code or error.error_type})
    return body


def retry_headers(error: BasaltError) -> dict[str, str]:
    if error.retry_after is None:
        return dict(error.headers)
    seconds = error.retry_after
    return {**error.headers, "retry-after": str(max(1, round(seconds))), "retry-after-ms": str(int(seconds * 1000))}
