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


# Basalt's error types as Bedrock's exceptions (name, status), per the bedrock-runtime service model. An invalid
# request keeps its own status where it has one (408 late body, 409, 413): botocore raises by the name, and the
# status tells its retry logic what it needs.
BEDROCK_EXCEPTIONS = {
    "invalid_request_error": ("ValidationException", None),
    "authentication_error": ("AccessDeniedException", 403),
    "permission_error": ("AccessDeniedException", 403),
    "not_found_error": ("ResourceNotFoundException", 404),
    "request_too_large": ("ValidationException", 413),
    "rate_limit_error": ("ThrottlingException", 429),
    "billing_error": ("ServiceQuotaExceededException", 400),
    "api_error": ("InternalServerException", None),
    "timeout_error": ("ModelTimeoutException", 408),
    "overloaded_error": ("ServiceUnavailableException", 503),
}
# The same inside an event stream, as members of its union (ConverseStreamOutput / ResponseStream): botocore raises
# an exception frame by its `:exception-type`. A failure mid-answer is the model stream's error.
BEDROCK_STREAM_EXCEPTIONS = {
    "ValidationException": "validationException",
    "ThrottlingException": "throttlingException",
    "ServiceUnavailableException": "serviceUnavailableException",
    "ModelTimeoutException": "modelTimeoutException",
}


# The members of each stream's union an exception frame may name (botocore raises only those).
CONVERSE_STREAM_ERRORS = frozenset(
    ("internalServerException", "modelStreamErrorException", "validationException", "throttlingException",
     "serviceUnavailableException")
)  # fmt: skip
INVOKE_STREAM_ERRORS = CONVERSE_STREAM_ERRORS | {"modelTimeoutException"}


def bedrock_exception(error: BasaltError) -> tuple[str, int]:
    """The exception's name and status; an error that names its own AWS type (a refused SigV4 signature:
    InvalidSignatureException, UnrecognizedClientException) keeps it and its status."""
    own = getattr(error, "aws_error_type", None)
    if isinstance(own, str):
        return own, error.status
    name, status = BEDROCK_EXCEPTIONS.get(error.error_type, ("InternalServerException", None))
    return name, status or error.status


def bedrock_error(error: BasaltError, request_id: str) -> dict[str, Any]:
    """Bedrock's error body: botocore's rest-json parser reads the code from `x-amzn-ErrorType`, this message."""
    return {"message": error.message}


def bedrock_status(error: BasaltError) -> int:
    return bedrock_exception(error)[1]


def bedrock_error_headers(error: BasaltError, request_id: str) -> dict[str, str]:
    """The exception's name, and the request id where botocore reads it (ResponseMetadata.RequestId)."""
    return {"x-amzn-errortype": bedrock_exception(error)[0], "x-amzn-requestid": request_id}


def bedrock_stream_exception(error: BasaltError, members: frozenset[str]) -> str:
    """The `:exception-type` of a mid-stream failure, among the members the stream's union has."""
    name = BEDROCK_STREAM_EXCEPTIONS.get(bedrock_exception(error)[0], "modelStreamErrorException")
    return name if name in members else "modelStreamErrorException"
