"""Routes a model name over its deployments: load balancing, retries with backoff, fallbacks and cooldowns.

A `Router` is itself a provider, so the rest of the flow does not know whether a name has one deployment or many.
Nothing is retried or moved to another deployment once an event has reached the client: a stream is never spliced.

Batch calls (priority "batch") use at most a share of each deployment's concurrency, so interactive calls always find
room; they wait for a free batch slot instead of failing, and a deployment that answered a batch call with a rate
limit rests from batch calls for its `retry-after` (up to `batch_max_wait`), which batch calls wait out in full.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from .canonical import MessagesRequest
from .errors import BadGateway, BasaltError, Overloaded
from .providers.base import CURRENT_ATTEMPT, Attempt, EventBatch, ModelInfo, Priority, Provider, open_stream
from .scale.affinity import prefix_key, rank

__all__ = ["RETRYABLE", "Attempt", "PrefixRouting", "RetryPolicy", "Router", "Target"]

log = logging.getLogger("basalt.router")
RETRYABLE = {"rate_limit_error", "api_error", "overloaded_error", "timeout_error"}
BATCH_POLL = 0.05  # seconds between looks for batch room
RECENT_ERRORS = 10  # failed tries each deployment remembers


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2  # further tries on the same deployment before moving on
    backoff: float = 0.5  # first delay in seconds, doubled each try
    max_delay: float = 8.0  # an upstream's retry-after above this moves on to the next deployment instead
    cooldown: float = 30.0  # a deployment that failed all its tries rests this long (then one request probes it)
    batch_share: float = 0.5  # of a deployment's max_concurrency that batch calls may use (at least one call)
    batch_concurrency: int = 8  # batch calls in flight per deployment that has no max_concurrency
    batch_max_wait: float = 60.0  # the longest retry-after a batch call waits out (it is not in a hurry)


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
    batch_in_flight: int = 0  # of in_flight, the batch calls
    batch_resting_until: float = 0.0  # the deployment asked batch calls to wait (a rate limit's retry-after)
    # The last failed tries (wall-clock time, error type, message), for the console's deployments page.
    recent_errors: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=RECENT_ERRORS))

    def available(self, now: float) -> bool:
        busy = self.max_concurrency is not None and self.in_flight >= self.max_concurrency
        return not busy and now >= self.cooling_until

    def batch_limit(self, policy: RetryPolicy) -> int:
        if self.max_concurrency is None:
            return policy.batch_concurrency
        return max(1, int(self.max_concurrency * policy.batch_share))

    def open_to_batch(self, now: float, policy: RetryPolicy) -> bool:
        return (
            self.available(now) and now >= self.batch_resting_until and self.batch_in_flight < self.batch_limit(policy)
        )


@dataclass(frozen=True)
class PrefixRouting:
    """Route by prefix affinity (basalt/scale/affinity.py) over deployments that keep prefix caches."""

    prefix_chars: int = 256
    max_imbalance: int = 4


class Router:
    def __init__(
        self,
        name: str,
        targets: list[Target],
        policy: RetryPolicy | None = None,
        prefix: PrefixRouting | None = None,
    ) -> None:
        self.name = name
        self.targets = targets
        self.policy = policy or RetryPolicy()
        self.prefix = prefix
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

    def order(self, request: MessagesRequest | None = None) -> list[Target]:
        """Available targets first, least busy first, ties broken by weighted chance (or, with prefix routing, the
        one most likely to hold the prompt's prefix, within the imbalance bound); resting ones last."""
        if len(self.targets) == 1:  # the common case, decided without the shuffle
            return self.targets
        now = time.monotonic()
        ready = [t for t in self.targets if t.available(now)]
        resting = sorted((t for t in self.targets if not t.available(now)), key=lambda t: t.cooling_until)
        if self.prefix is not None and request is not None:
            key = prefix_key(request, self.prefix.prefix_chars)
            ids, loads = [t.label or t.model for t in ready], [t.in_flight for t in ready]
            return [ready[i] for i in rank(key, ids, loads, self.prefix.max_imbalance)] + resting
        keyed = [(t.in_flight, -(random.random() ** (1.0 / t.weight)), t) for t in ready]
        return [t for _, _, t in sorted(keyed, key=lambda k: (k[0], k[1]))] + resting

    async def stream(
        self,
        request: MessagesRequest,
        model: str,
        attempts: list[Attempt] | None = None,
        begin: Callable[[Attempt], None] | None = None,
        priority: Priority = "interactive",
    ) -> AsyncIterator[EventBatch]:
        """The first deployment that answers; each try is appended to `attempts` (the call's record) as it starts,
        and `begin` sees it before its request goes out (tracing gives it the headers naming its span). A batch call
        first waits for a deployment with batch room (see the module's docstring)."""
        attempts = [] if attempts is None else attempts
        is_batch = priority == "batch"
        last_error: BasaltError | None = None
        for target in await self._batch_order() if is_batch else self.order(request):
            if is_batch and last_error is not None and not target.open_to_batch(time.monotonic(), self.policy):
                continue  # filled up while the one before was tried: a fallback must not exceed the batch share
            tries = 0
            while True:
                events: AsyncIterator[EventBatch] | None = None
                attempt = Attempt(target.label or target.model)
                attempts.append(attempt)
                if begin is not None:
                    begin(attempt)
                target.in_flight += 1
                target.batch_in_flight += is_batch
                # The try is the current one while its request goes out: set and reset in this one step, with no
                # yield between them, so the context is the same whoever iterates this stream.
                current = CURRENT_ATTEMPT.set(attempt)
                try:
                    events = open_stream(target.provider, request, target.model, priority)  # may refuse already
                    first = await anext(events)
                except BasaltError as exc:
                    _release(target, is_batch)
                    if events is not None:
                        await events.aclose()  # type: ignore[attr-defined]
                    target.recent_errors.append((time.time(), exc.error_type, str(exc)[:300]))
                    last_error = exc
                    delay = self._retry_delay(exc, tries, is_batch)
                    attempt.ended, attempt.error = time.monotonic(), exc.error_type
                    attempt.then = "retry" if delay is not None else "fallback"
                    if delay is None:
                        break
                    if is_batch and exc.error_type == "rate_limit_error":  # every batch call to it waits, not just this
                        target.batch_resting_until = max(target.batch_resting_until, time.monotonic() + delay)
                    tries += 1
                    await asyncio.sleep(delay)
                    continue
                except BaseException as exc:
                    _release(target, is_batch)
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
                    _release(target, is_batch)
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

    async def _batch_order(self) -> list[Target]:
        """The deployments open to one more batch call, once there is one (overloaded after `batch_max_wait`, so
        the batch can retry the item later). Polled, not signalled: a batch call can afford a 50 ms wake-up, and
        polling binds nothing to one event loop (the router outlives loops)."""
        deadline = time.monotonic() + self.policy.batch_max_wait
        while True:
            now = time.monotonic()
            ready = [t for t in self.order() if t.open_to_batch(now, self.policy)]
            if ready:
                return ready
            if now >= deadline:
                raise Overloaded(f"no deployment of {self.name} had room for a batch call", retry_after=1)
            await asyncio.sleep(BATCH_POLL)

    def _retry_delay(self, error: BasaltError, attempt: int, is_batch: bool = False) -> float | None:
        """Seconds to wait before trying the same deployment again; None to move on (or give up, if not retryable).
        A batch call waits out longer retry-afters (up to `batch_max_wait`) instead of moving on."""
        if error.error_type not in RETRYABLE or attempt >= self.policy.retries or isinstance(error, BadGateway):
            return None  # a redirecting deployment is misconfigured: the next one may still answer
        max_delay = self.policy.batch_max_wait if is_batch else self.policy.max_delay
        wait = error.retry_after
        if wait is not None:
            return float(wait) if 0 <= wait <= max_delay else None
        return min(self.policy.backoff * 2.0**attempt, self.policy.max_delay) * random.uniform(0.8, 1.0)


def _release(target: Target, is_batch: bool) -> None:
    target.in_flight -= 1
    target.batch_in_flight -= is_batch
