"""Routes a model name over its deployments: load balancing, retries with backoff, fallbacks and cooldowns.

A `Router` is itself a provider, so the rest of the flow does not know whether a name has one deployment or many.
Nothing is retried or moved to another deployment once an event has reached the client: a stream is never spliced.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from .canonical import MessagesRequest
from .errors import BadGateway, BasaltError
from .providers.base import CURRENT_ATTEMPT, Attempt, EventBatch, ModelInfo, Provider

__all__ = ["RETRYABLE", "Attempt", "RetryPolicy", "Router", "Target"]

log = logging.getLogger("basalt.router")
RETRYABLE = {"rate_limit_error", "api_error", "overloaded_error", "timeout_error"}


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # further tries on the same deployment before moving on
    backoff: float = 0.5  # first delay in seconds, doubled each try
    max_delay: float = 8.0  # an upstream's retry-after above this moves on to the next deployment instead
    cooldown: float = 30.0  # a deployment that failed all its tries rests this long (then one request probes it)


@dataclass(eq=False)
class Target:
    provider: Provider
    model: str
    weight: int = 1
    max_concurrency: int | None = None
    in_flight: int = 0
    cooling_until: float = 0.0
    failures: int = field(default=0)
    label: str = ""  # how the usage ledger names this deployment

    def available(self, now: float) -> bool:
        busy = self.max_concurrency is not None and self.in_flight >= self.max_concurrency
        return not busy and now >= self.cooling_until


class Router:
    def __init__(self, name: str, targets: list[Target], policy: RetryPolicy | None = None) -> None:
        self.name = name
        self.targets = targets
        self.policy = policy or RetryPolicy()
        first = targets[0].provider.models()[0]
        self.info = ModelInfo(name, first.display_name, first.created_at, first.owned_by, first.context_window)

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        for target in self.targets:
            await target.provider.aclose()

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        target = self.order()[0]
        return await target.provider.count_tokens(request, target.model)

    def order(self) -> list[Target]:
        """Available targets first, least busy first, ties broken by weighted chance; resting ones last."""
        if len(self.targets) == 1:  # the common case, decided without the shuffle
            return self.targets
        now = time.monotonic()
        ready = [t for t in self.targets if t.available(now)]
        resting = sorted((t for t in self.targets if not t.available(now)), key=lambda t: t.cooling_until)
        keyed = [(t.in_flight, -(random.random() ** (1.0 / t.weight)), t) for t in ready]
        return [t for _, _, t in sorted(keyed, key=lambda k: (k[0], k[1]))] + resting

    async def stream(
        self,
        request: MessagesRequest,
        model: str,
        attempts: list[Attempt] | None = None,
        begin: Callable[[Attempt], None] | None = None,
    ) -> AsyncIterator[EventBatch]:
        """The first deployment that answers; each try is appended to `attempts` (the call's record) as it starts,
        and `begin` sees it before its request goes out (tracing gives it the headers naming its span)."""
        attempts = [] if attempts is None else attempts
        last_error: BasaltError | None = None
        for target in self.order():
            tries = 0
            while True:
                events: AsyncIterator[EventBatch] | None = None
                attempt = Attempt(target.label or target.model)
                attempts.append(attempt)
                if begin is not None:
                    begin(attempt)
                target.in_flight += 1
                # The try is the current one while its request goes out: set and reset in this one step, with no
                # yield between them, so the context is the same whoever iterates this stream.
                current = CURRENT_ATTEMPT.set(attempt)
                try:
                    events = target.provider.stream(request, target.model)  # a provider may refuse here already
                    first = await anext(events)
                except BasaltError as exc:
                    target.in_flight -= 1
                    if events is not None:
                        await events.aclose()  # type: ignore[attr-defined]
                    last_error = exc
                    delay = self._retry_delay(exc, tries)
                    attempt.ended, attempt.error = time.monotonic(), exc.error_type
                    attempt.then = "retry" if delay is not None else "fallback"
                    if delay is None:
                        break
                    tries += 1
                    await asyncio.sleep(delay)
                    continue
                except BaseException as exc:
                    target.in_flight -= 1
                    attempt.ended, attempt.error, attempt.then = time.monotonic(), type(exc).__name__, "give up"
                    raise
                finally:
                    CURRENT_ATTEMPT.reset(current)
                target.failures = 0
                try:
                    if first[0]["type"] == "message_start":
                        first[0]["message"]["model"] = model
                    yield first
                    async for batch in events:
                        yield batch
                finally:
                    target.in_flight -= 1
                    attempt.ended = time.monotonic()
                    await events.aclose()  # type: ignore[attr-defined]
                return
            if last_error is not None and last_error.error_type not in RETRYABLE:
                attempts[-1].then = "give up"
                raise last_error
            target.failures += 1
            target.cooling_until = time.monotonic() + self.policy.cooldown
            attempts[-1].cooled = True
            log.warning("deployment %s of %s failed (%s); trying the next one", target.model, self.name, last_error)
        assert last_error is not None
        attempts[-1].then = "give up"
        raise last_error

    def _retry_delay(self, error: BasaltError, attempt: int) -> float | None:
        """Seconds to wait before trying the same deployment again; None to move on (or give up, if not retryable)."""
        if error.error_type not in RETRYABLE or attempt >= self.policy.retries or isinstance(error, BadGateway):
            return None  # a redirecting deployment is misconfigured: the next one may still answer
        wait = error.retry_after
        if wait is not None:
            return float(wait) if 0 <= wait <= self.policy.max_delay else None
        return min(self.policy.backoff * 2.0**attempt, self.policy.max_delay) * random.uniform(0.8, 1.0)
