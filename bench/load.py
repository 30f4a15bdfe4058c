"""A streaming load generator for OpenAI-compatible chat endpoints: TTFT, inter-token latency, aggregate tok/s."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx


@dataclass
class Result:
    ttft: float
    itls: list[float]
    tokens: int
    text: str


@dataclass
class RunStats:
    results: list[Result] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0

    def summary(self) -> dict[str, float]:
        ttfts = sorted(r.ttft for r in self.results)
        itls = sorted(x for r in self.results for x in r.itls)
        tokens = sum(r.tokens for r in self.results)
        return {
            "requests": len(self.results),
            "errors": self.errors,
            "tokens": tokens,
            "tok_s": tokens / self.wall if self.wall else 0.0,
            "ttft_p50": pct(ttfts, 50),
            "ttft_p95": pct(ttfts, 95),
            "itl_p50": pct(itls, 50),
            "itl_p95": pct(itls, 95),
        }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def one_request(client: httpx.AsyncClient, model: str, messages: list[dict[str, str]], max_tokens: int) -> Result:
    try:
        return await _attempt(client, model, messages, max_tokens)
    except httpx.RemoteProtocolError as exc:
        if "without sending a response" not in str(exc):
            raise
        # A keep-alive connection the server closed as the request went out: what any client does is send it again.
        return await _attempt(client, model, messages, max_tokens)


async def _attempt(client: httpx.AsyncClient, model: str, messages: list[dict[str, str]], max_tokens: int) -> Result:
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = last = 0.0
    itls: list[float] = []
    chunks = 0
    usage_tokens = None
    text = []
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {(await response.aread())[:200]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                usage_tokens = data["usage"].get("completion_tokens")
            for choice in data.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    now = time.perf_counter()
                    if not first:
                        first = now
                    else:
                        itls.append(now - last)
                    last = now
                    chunks += 1
                    text.append(content)
    return Result(first - start if first else float("nan"), itls, usage_tokens or chunks, "".join(text))


async def run_load(
    base_url: str, model: str, prompts: list[list[dict[str, str]]], concurrency: int, max_tokens: int
) -> RunStats:
    """Send every prompt once, `concurrency` at a time."""
    stats = RunStats()
    queue: asyncio.Queue[list[dict[str, str]]] = asyncio.Queue()
    for p in prompts:
        queue.put_nowait(p)
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=900, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                messages = queue.get_nowait()
                try:
                    stats.results.append(await one_request(client, model, messages, max_tokens))
                except Exception as exc:  # counted, and the run goes on
                    stats.errors += 1
                    print(f"  request failed: {exc}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stats.wall = time.perf_counter() - start
    return stats
