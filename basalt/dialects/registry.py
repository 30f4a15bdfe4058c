"""Which dialect answers for a path: its error shape, its status for an error, its rate-limit headers.

A dialect owns the first path segments under /v1/ of its API family's routes, served or not; an error anywhere under
them (a 404 for an unserved path included) is rendered the way that family's SDK reads it. Bedrock's runtime API
has no /v1/: it owns the paths under /model/ and /guardrail/. A new wire dialect is one module and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BasaltError, RateState
from .errors import (
    anthropic_error,
    bedrock_error,
    bedrock_error_headers,
    bedrock_status,
    either_error,
    openai_error,
    openai_status,
)
from .ratelimits import anthropic_headers, openai_headers


@dataclass(frozen=True)
class Dialect:
    name: str
    segments: frozenset[str]  # first path segments under /v1/ whose answers are in this dialect
    error_body: Callable[[BasaltError, str], dict[str, Any]]  # (error, request id) -> the JSON body
    status: Callable[[BasaltError], int]
    rate_limit_headers: Callable[[Mapping[str, RateState]], dict[str, str]]
    # What names the error beside the body: (error, request id) -> headers
    error_headers: Callable[[BasaltError, str], dict[str, str]] = lambda _, __: {}


def _status(error: BasaltError) -> int:
    return error.status


def _both_headers(limits: Mapping[str, RateState]) -> dict[str, str]:
    return {**anthropic_headers(limits), **openai_headers(limits)}


# The first path segment under /v1/ of each API family's routes, served or not: an unserved path answers 404 in the
# shape its family's SDK reads. /v1/models belongs to both; every other path is Anthropic's. /v1/files is OpenAI's:
# Basalt serves OpenAI Files there (the Anthropic Files API, at the same path, it does not serve).
OPENAI_SEGMENTS = frozenset(
    [
        "chat",
        "completions",
        "embeddings",
        "responses",
        "images",
        "audio",
        "moderations",
        "fine_tuning",
        "fine-tunes",
        "batches",
        "files",
        "assistants",
        "threads",
        "vector_stores",
        "uploads",
        "realtime",
        "evals",
        "containers",
        "conversations",
        "videos",
        "organization",
        "engines",
        "edits",
    ]
)
SHARED_SEGMENTS = frozenset(("models",))


OPENAI = Dialect("openai", OPENAI_SEGMENTS, lambda e, _: openai_error(e), openai_status, openai_headers)
# GET /v1/models is called by both SDKs: a body each reads as its own, and both header sets.
SHARED = Dialect("shared", SHARED_SEGMENTS, either_error, _status, _both_headers)
ANTHROPIC = Dialect("anthropic", frozenset(), anthropic_error, _status, anthropic_headers)  # everything else
# Bedrock sends no rate-limit headers; its exceptions are named by `x-amzn-ErrorType`.
BEDROCK = Dialect(
    "bedrock", frozenset(("model", "guardrail")), bedrock_error, bedrock_status, lambda _: {}, bedrock_error_headers
)
_BY_SEGMENT = {segment: d for d in (OPENAI, SHARED) for segment in d.segments}


def dialect_for(path: str) -> Dialect:
    """The dialect owning `path`: Bedrock's for /model/ and /guardrail/, else by its first segment under /v1/,
    Anthropic's otherwise."""
    parts = path.split("/", 3)
    if len(parts) < 3:
        return ANTHROPIC
    if parts[1] != "v1":
        return BEDROCK if parts[1] in BEDROCK.segments else ANTHROPIC
    return _BY_SEGMENT.get(parts[2], ANTHROPIC)
