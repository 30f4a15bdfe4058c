"""Errors every room raises; the dialects turn them into their own wire shapes.

Each error names its Anthropic error type; that type fixes the HTTP status, and each dialect maps it to its own
type and code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

STATUS_BY_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class RateState(Protocol):
    """One rate limit's state after a decision (`control.limiter.BucketState`), as each dialect's rate-limit
    headers show it."""

    @property
    def limit(self) -> float: ...

    @property
    def remaining(self) -> float: ...

    @property
    def reset_seconds(self) -> float: ...


class BasaltError(Exception):
    """An error with a message a person can act on, shown to the caller in its dialect."""

    error_type = "api_error"
    # The AWS error type (x-amzn-ErrorType) the Bedrock dialect sends when an error names one itself; otherwise the
    # dialect derives it from `error_type`.
    aws_error_type: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        limits: Mapping[str, RateState] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        self.headers = headers or {}  # extra response headers
        self.limits = limits or {}  # the tightest rate limit of each kind (rpm, input_tpm, output_tpm)

    @property
    def status(self) -> int:
        return STATUS_BY_TYPE[self.error_type]


class InvalidRequest(BasaltError):
    error_type = "invalid_request_error"


class NotFound(BasaltError):
    error_type = "not_found_error"


class Conflict(InvalidRequest):
    """A definition that exists already with other contents: 409 (an invalid request in both dialects' types)."""

    @property
    def status(self) -> int:
        return 409


class RequestTimedOut(InvalidRequest):
    """The client did not send its request in time: 408 (retryable by the SDKs)."""

    @property
    def status(self) -> int:
        return 408


class RequestTooLarge(BasaltError):
    error_type = "request_too_large"


class Overloaded(BasaltError):
    error_type = "overloaded_error"


class AuthenticationFailed(BasaltError):
    error_type = "authentication_error"


class PermissionDenied(BasaltError):
    error_type = "permission_error"


class SignatureRefused(AuthenticationFailed):
    """A request signed with AWS Signature Version 4 that Basalt refuses: a 403, as AWS answers every such refusal,
    naming the AWS error type boto3 raises (UnrecognizedClientException for an unknown or unusable access key,
    InvalidSignatureException for a wrong or expired signature, IncompleteSignatureException for a malformed one)."""

    def __init__(self, message: str, aws_error_type: str = "InvalidSignatureException") -> None:
        super().__init__(message)
        self.aws_error_type = aws_error_type

    @property
    def status(self) -> int:
        return 403


class RateLimited(BasaltError):
    error_type = "rate_limit_error"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limits: Mapping[str, RateState] | None = None,
        limit: str | None = None,
        owner: str | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after, limits=limits)
        # Which of Basalt's limits refused ("rpm", "input_tpm", "output_tpm", "concurrency") and whose ("key",
        # "project"), for the rejection metrics; None for an upstream's own 429.
        self.limit = limit
        self.owner = owner


class BudgetExceeded(BasaltError):
    error_type = "billing_error"

    def __init__(self, message: str, *, owner: str | None = None, period: str | None = None) -> None:
        super().__init__(message)
        self.limit = "budget"
        self.owner = owner  # "key" or "project"
        self.period = period  # "daily" or "monthly"


class InternalError(BasaltError):
    error_type = "api_error"


class BadGateway(BasaltError):
    """The upstream answered in a way no retry changes (it redirected): a 502 saying what to fix in the deployment.
    The router does not try the deployment again, and SDKs are told not to retry either."""

    error_type = "api_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"x-should-retry": "false"})

    @property
    def status(self) -> int:
        return 502
