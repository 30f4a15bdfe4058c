"""Which dialect answers for a path: its error shape, its status for an error, its rate-limit headers.

A dialect owns path prefixes; an error anywhere under them (a 404 for an unserved path included) is rendered the way
that dialect's SDK reads it. A new wire dialect is one module and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BasaltError, RateState
from .errors import anthropic_error, either_error, openai_error, openai_status
from .ratelimits import anthropic_headers, openai_headers


@dataclass(frozen=True)
class Dialect:
    name: str
    paths: tuple[str, ...]  # path prefixes whose answers are in this dialect
    error_body: Callable[[BasaltError, str], dict[str, Any]]  # (error, request id) -> the JSON body
    status: Callable[[BasaltError], int]
    rate_limit_headers: Callable[[Mapping[str, RateState]], dict[str, str]]


def _status(error: BasaltError) -> int:
    return error.status


def _both_headers(limits: Mapping[str, RateState]) -> dict[str, str]:
    return {**anthropic_headers(limits), **openai_headers(limits)}


OPENAI = Dialect("openai", ("/v1/chat/completions",), lambda e, _: openai_error(e), openai_status, openai_headers)
# GET /v1/models is called by both SDKs: a body each reads as its own, and both header sets.
SHARED = Dialect("shared", ("/v1/models",), either_error, _status, _both_headers)
ANTHROPIC = Dialect("anthropic", ("/",), anthropic_error, _status, anthropic_headers)  # the default
DIALECTS = (OPENAI, SHARED, ANTHROPIC)
_BY_PREFIX = sorted(((p, d) for d in DIALECTS for p in d.paths), key=lambda pd: -len(pd[0]))


def dialect_for(path: str) -> Dialect:
    """The dialect owning the longest prefix of `path`."""
    for prefix, dialect in _BY_PREFIX:
        if path.startswith(prefix):
            return dialect
    return ANTHROPIC
