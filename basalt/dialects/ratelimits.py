"""Rate-limit state as each dialect's response headers: Anthropic's `anthropic-ratelimit-*`, OpenAI's
`x-ratelimit-*`. The control plane decides and returns the state of the tightest limit of each kind; only here does
it become headers, on answers and on 429s alike."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from ..errors import RateState

ANTHROPIC_NAMES = {"rpm": "requests", "input_tpm": "input-tokens", "output_tpm": "output-tokens"}
OPENAI_NAMES = {"rpm": "requests", "input_tpm": "tokens"}


def anthropic_headers(limits: Mapping[str, RateState]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if not limits:
        return headers
    now = time.time()
    for kind, name in ANTHROPIC_NAMES.items():
        state = limits.get(kind)
        if state is None:
            continue
        prefix = f"anthropic-ratelimit-{name}"
        headers[f"{prefix}-limit"] = str(int(state.limit))
        headers[f"{prefix}-remaining"] = str(int(state.remaining))
        headers[f"{prefix}-reset"] = _rfc3339(now + state.reset_seconds)
    tokens = [s for k, s in limits.items() if k in ("input_tpm", "output_tpm")]
    if tokens:
        tight = min(tokens, key=lambda s: s.remaining)
        headers["anthropic-ratelimit-tokens-limit"] = str(int(tight.limit))
        headers["anthropic-ratelimit-tokens-remaining"] = str(int(tight.remaining))
        headers["anthropic-ratelimit-tokens-reset"] = _rfc3339(now + tight.reset_seconds)
    return headers


def openai_headers(limits: Mapping[str, RateState]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for kind, name in OPENAI_NAMES.items():
        state = limits.get(kind)
        if state is None:
            continue
        headers[f"x-ratelimit-limit-{name}"] = str(int(state.limit))
        headers[f"x-ratelimit-remaining-{name}"] = str(int(state.remaining))
        headers[f"x-ratelimit-reset-{name}"] = _duration(state.reset_seconds)
    return headers


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float) -> str:
    """OpenAI's reset format: `1s`, `6m0s`, `120ms`."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s" if minutes else f"{rest:.0f}s"
