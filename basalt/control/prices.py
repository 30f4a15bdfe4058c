"""Cost of a request from the configured price table (USD per million tokens, by model name)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Price


@dataclass(frozen=True)
class TokenCounts:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0


def cost(price: Price | None, tokens: TokenCounts, batch: bool = False) -> float:
    """USD; a model with no price costs nothing (the bundled local model, for one). A batch item pays the price's
    `batch` share of it (Anthropic and OpenAI charge batches half)."""
    if price is None:
        return 0.0
    share = price.batch if batch else 1.0
    cache_read = price.cache_read if price.cache_read is not None else price.input * 0.1
    cache_write = price.cache_write if price.cache_write is not None else price.input * 1.25
    return (
        (
            tokens.input * price.input
            + tokens.output * price.output
            + tokens.cache_read * cache_read
            + tokens.cache_write * cache_write
        )
        * share
        / 1_000_000
    )
