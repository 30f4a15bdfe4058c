"""Basalt's errors as Bedrock's exceptions: name and status per the bedrock-runtime service model."""

from __future__ import annotations

import pytest

from basalt.dialects.errors import (
    CONVERSE_STREAM_ERRORS,
    INVOKE_STREAM_ERRORS,
    bedrock_exception,
    bedrock_stream_exception,
)
from basalt.errors import (
    AuthenticationFailed,
    BadGateway,
    BasaltError,
    BudgetExceeded,
    Conflict,
    InternalError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    RateLimited,
    RequestTimedOut,
    RequestTooLarge,
)
from basalt.providers.upstream_http import UpstreamTimeout


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (InvalidRequest("x"), ("ValidationException", 400)),
        (RequestTimedOut("x"), ("ValidationException", 408)),
        (Conflict("x"), ("ValidationException", 409)),
        (RequestTooLarge("x"), ("ValidationException", 413)),
        (AuthenticationFailed("x"), ("AccessDeniedException", 403)),
        (PermissionDenied("x"), ("AccessDeniedException", 403)),
        (NotFound("x"), ("ResourceNotFoundException", 404)),
        (RateLimited("x"), ("ThrottlingException", 429)),
        (BudgetExceeded("x"), ("ServiceQuotaExceededException", 400)),
        (Overloaded("x"), ("ServiceUnavailableException", 503)),
        (UpstreamTimeout("x"), ("ModelTimeoutException", 408)),
        (InternalError("x"), ("InternalServerException", 500)),
        (BadGateway("x"), ("InternalServerException", 502)),
    ],
)
def test_each_error_is_its_bedrock_exception(error: BasaltError, expected: tuple[str, int]) -> None:
    assert bedrock_exception(error) == expected


def test_an_error_naming_its_aws_type_keeps_it() -> None:
    class Refused(AuthenticationFailed):
        aws_error_type = "InvalidSignatureException"

    assert bedrock_exception(Refused("x")) == ("InvalidSignatureException", 401)


def test_stream_exceptions_are_members_of_the_streams_union() -> None:
    assert bedrock_stream_exception(RateLimited("x"), CONVERSE_STREAM_ERRORS) == "throttlingException"
    assert bedrock_stream_exception(InvalidRequest("x"), CONVERSE_STREAM_ERRORS) == "validationException"
    assert bedrock_stream_exception(Overloaded("x"), CONVERSE_STREAM_ERRORS) == "serviceUnavailableException"
    assert bedrock_stream_exception(InternalError("x"), CONVERSE_STREAM_ERRORS) == "modelStreamErrorException"
    # ConverseStream has no modelTimeoutException member; InvokeModel's stream has.
    assert bedrock_stream_exception(UpstreamTimeout("x"), CONVERSE_STREAM_ERRORS) == "modelStreamErrorException"
    assert bedrock_stream_exception(UpstreamTimeout("x"), INVOKE_STREAM_ERRORS) == "modelTimeoutException"
