"""Admission and settlement of one request: rate limits, concurrency, budget, and its row in the usage ledger.

`admit` reserves (prompt estimate + max_tokens) before anything is sent upstream and makes the ledger row durable;
`Ticket.settle` settles with the real usage when the answer ends, however it ends (the flow's meter stage reads it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..canonical import MessagesRequest
from ..config import Price
from ..errors import BasaltError, InvalidRequest, Overloaded, RateLimited
from .budgets import Budget, BudgetBook, budgets
from .ledger import Ledger
from .limiter import Bucket, BucketState, Limiter
from .prices import TokenCounts, cost
from .principal import Principal

log = logging.getLogger("basalt.control")
IMAGE_TOKENS = 1600  # an image's cost before the provider says: Anthropic's for a ~1.15 megapixel image


@dataclass
class Context:
    """What admission needs on one event loop."""

    limiter: Limiter
    ledger: Ledger
    book: BudgetBook
    prices: dict[str, Price]
    instance: str
    settling: set[asyncio.Task[None]] = field(default_factory=set)


class CallFacts(Protocol):
    """What the rest of the flow learns about a call that its ledger row records at settlement (the flow's
    per-call record): read once, when the call settles."""

    @property
    def deployment(self) -> str | None: ...

    @property
    def guardrail_action(self) -> str | None: ...

    @property
    def trace_id(self) -> str | None: ...  # 32 hex digits, so a cost line leads to its trace

    @property
    def batch_id(self) -> str | None: ...  # the batch a batch item's call belongs to (its own price, its report)


def estimate_input_tokens(request: MessagesRequest) -> int:
    """A quick upper-side guess (about four characters a token) for the reservation; settlement corrects it."""
    chars = len(request.system_text()) if request.system else 0
    images = 0
    for message in request.messages:
        chars += 16
        if isinstance(message.content, str):
            chars += len(message.content)
            continue
        for block in message.content:
            kind = block.type
            if kind == "text":
                chars += len(block.text)  # type: ignore[union-attr]
            elif kind in ("image", "document"):
                images += 1
            else:
                chars += len(block.model_dump_json())
    for tool in request.tools or []:
        chars += len(tool.model_dump_json())
    return chars // 4 + 1 + images * IMAGE_TOKENS


def rate_buckets(principal: Principal, input_tokens: int, output_tokens: int) -> list[Bucket]:
    out: list[Bucket] = []
    for owner, record in (("key", principal.key), ("project", principal.project)):
        if record is None:
            continue
        limits = record.limits
        for kind, limit, amount in (
            ("rpm", limits.rpm, 1),
            ("input_tpm", limits.input_tpm, input_tokens),
            ("output_tpm", limits.output_tpm, output_tokens),
        ):
            if limit is not None:
                out.append(Bucket(f"rate:{owner}:{record.id}:{kind}", float(limit), float(amount)))
    return out


def concurrency_slots(principal: Principal) -> list[tuple[str, int]]:
    slots = []
    for owner, record in (("key", principal.key), ("project", principal.project)):
        if record is not None and record.limits.max_concurrency is not None:
            slots.append((f"slots:{owner}:{record.id}", record.limits.max_concurrency))
    return slots


async def admit(
    ctx: Context,
    principal: Principal,
    request: MessagesRequest,
    endpoint: str,
    request_id: str,
    facts: CallFacts | None = None,
) -> Ticket:
    principal.require_endpoint(endpoint)
    principal.require_model(request.model)
    est_in = estimate_input_tokens(request)
    est_out = request.max_tokens
    price = ctx.prices.get(request.model)
    batch = facts is not None and facts.batch_id is not None
    reserved_cost = cost(price, TokenCounts(est_in, est_out), batch)
    owed = budgets(principal, datetime.now(UTC))
    await ctx.book.check(owed, reserved_cost)

    buckets = rate_buckets(principal, est_in, est_out)
    states: tuple[BucketState, ...] = ()
    if buckets:
        decision = await ctx.limiter.acquire(buckets)
        states = decision.buckets
        if not decision.allowed:
            raise _rate_error(buckets, decision.buckets, decision.retry_after)
    slots = concurrency_slots(principal)
    entered: list[str] = []
    for name, limit in slots:
        if not await ctx.limiter.enter(name, limit, request_id):
            await _undo(ctx, buckets, entered, request_id)
            raise RateLimited(
                f"Too many concurrent requests: {name.split(':')[1]} allows {limit} at a time.",
                retry_after=1.0,
                limits=tightest(states),
            )
        entered.append(name)
    ticket = Ticket(ctx, principal, request, endpoint, request_id, est_in, est_out, reserved_cost, price, facts)
    ticket.buckets, ticket.states, ticket.slots, ticket.budgets = buckets, states, entered, owed
    await ctx.book.charge(owed, reserved_cost)
    try:
        await ctx.ledger.reserve(ticket.reservation_row())
    except Exception:
        log.exception("could not reserve in the usage ledger")
        await ctx.book.charge(owed, -reserved_cost)
        await _undo(ctx, buckets, entered, request_id)
        raise Overloaded("The usage ledger is unavailable; the request was not sent. Retry shortly.") from None
    return ticket


def tightest(states: tuple[BucketState, ...]) -> dict[str, BucketState]:
    """The bucket with least remaining per kind (bucket names end in `:rpm`, `:input_tpm`, `:output_tpm`): a key
    and its project may both limit the same thing, and a client can only act on the tighter one."""
    out: dict[str, BucketState] = {}
    for state in states:
        kind = state.name.rsplit(":", 1)[-1]
        if kind not in out or state.remaining < out[kind].remaining:
            out[kind] = state
    return out


def _rate_error(buckets: list[Bucket], states: tuple[BucketState, ...], retry_after: float | None) -> BasaltError:
    limits = tightest(states)
    if retry_after is None:
        too_big = next(b for b in buckets if b.cost > b.limit)
        what = too_big.name.rsplit(":", 1)[-1]
        return InvalidRequest(
            f"This request alone needs {int(too_big.cost)} of a {what} limit of {int(too_big.limit)} per minute "
            f"({too_big.name.split(':')[1]} limit); lower max_tokens or the prompt, or raise the limit."
        )
    short = [
        b.name.split(":")[1] + " " + b.name.rsplit(":", 1)[-1]
        for b, s in zip(buckets, states, strict=True)
        if s.remaining < b.cost
    ]
    return RateLimited(
        f"Rate limit exceeded ({', '.join(short)}); retry after {max(retry_after, 0.001):.1f} s.",
        retry_after=max(retry_after, 0.001),
        limits=limits,
    )


async def _undo(ctx: Context, buckets: list[Bucket], slots: list[str], lease: str) -> None:
    for bucket in buckets:
        await ctx.limiter.adjust(bucket.name, bucket.limit, bucket.cost)
    for name in slots:
        await ctx.limiter.leave(name, lease)


class Ticket:
    """An admitted request: its reservation, its rate-limit state, and its settlement."""

    def __init__(
        self,
        ctx: Context,
        principal: Principal,
        request: MessagesRequest,
        endpoint: str,
        request_id: str,
        reserved_input: int,
        reserved_output: int,
        reserved_cost: float,
        price: Price | None,
        facts: CallFacts | None = None,
    ) -> None:
        self.ctx = ctx
        self.principal = principal
        self.request = request
        self.endpoint = endpoint
        self.request_id = request_id
        self.reserved_input = reserved_input
        self.reserved_output = reserved_output
        self.reserved_cost = reserved_cost
        self.price = price
        self.facts = facts
        self.started = time.time()
        self.buckets: list[Bucket] = []
        self.states: tuple[BucketState, ...] = ()
        self.slots: list[str] = []
        self.budgets: tuple[Budget, ...] = ()
        self.guardrail_action: str | None = None
        self._settled = False

    @property
    def limits(self) -> dict[str, BucketState]:
        """The tightest rate limit of each kind after this request was admitted; each dialect renders its headers."""
        return tightest(self.states) if self.states else {}

    def reservation_row(self) -> dict[str, Any]:
        key, project = self.principal.key, self.principal.project
        return {
            "request_id": self.request_id,
            "org_id": key.org_id if key else None,
            "project_id": project.id if project else None,
            "key_id": key.id if key else None,
            "endpoint": self.endpoint,
            "model": self.request.model,
            "status": "reserved",
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "reserved_input_tokens": self.reserved_input,
            "reserved_output_tokens": self.reserved_output,
            "reserved_cost_usd": self.reserved_cost,
            "cost_usd": 0.0,
            "started_at": self.started,
            "instance": self.ctx.instance,
            # Known at admission when the caller sent a traceparent: an interrupted call's row leads to its trace too.
            "trace_id": self.facts.trace_id if self.facts is not None else None,
            "batch_id": self.batch_id,
        }

    @property
    def batch_id(self) -> str | None:
        return self.facts.batch_id if self.facts is not None else None

    @property
    def settled(self) -> bool:
        return self._settled

    def progress(self, output_tokens: int) -> None:
        """A long stream's output so far, written to the ledger row so that a crash loses little of it."""
        self.ctx.ledger.settle({"request_id": self.request_id, "output_tokens": output_tokens})

    def settle(self, usage: dict[str, Any], status: str, error_type: str | None = None) -> None:
        """Records the outcome; the limiter and budget corrections run as a task, so a closing stream never waits."""
        if self._settled:
            return
        self._settled = True
        counts = TokenCounts(
            int(usage.get("input_tokens") or 0),
            int(usage.get("output_tokens") or 0),
            int(usage.get("cache_read_input_tokens") or 0),
            int(usage.get("cache_creation_input_tokens") or 0),
        )
        spent = cost(self.price, counts, self.batch_id is not None)
        now = time.time()
        facts = self.facts
        if facts is not None:
            self.guardrail_action = facts.guardrail_action or self.guardrail_action
        self.ctx.ledger.settle(
            {
                "request_id": self.request_id,
                "status": status,
                "error_type": error_type,
                "deployment": facts.deployment if facts is not None else None,
                "input_tokens": counts.input,
                "output_tokens": counts.output,
                "cache_read_tokens": counts.cache_read,
                "cache_write_tokens": counts.cache_write,
                "cost_usd": spent,
                "latency_ms": (now - self.started) * 1000,
                "finished_at": now,
                "guardrail_action": self.guardrail_action,
                "trace_id": facts.trace_id if facts is not None else None,  # tracing may have begun one since
            }
        )
        if not (self.buckets or self.slots or self.budgets):
            return  # nothing was taken from any limit (auth off, or no limits): no task to run
        task = asyncio.get_running_loop().create_task(self._release(counts, spent))
        self.ctx.settling.add(task)
        task.add_done_callback(self.ctx.settling.discard)

    async def _release(self, counts: TokenCounts, spent: float) -> None:
        limiter = self.ctx.limiter
        try:
            for bucket in self.buckets:
                kind = bucket.name.rsplit(":", 1)[-1]
                if kind == "input_tpm":
                    await limiter.adjust(bucket.name, bucket.limit, bucket.cost - counts.input - counts.cache_write)
                elif kind == "output_tpm":
                    await limiter.adjust(bucket.name, bucket.limit, bucket.cost - counts.output)
            for name in self.slots:
                await limiter.leave(name, self.request_id)
            if self.budgets and spent != self.reserved_cost:
                await self.ctx.book.charge(self.budgets, spent - self.reserved_cost)
        except Exception:
            log.exception("could not release the limits of %s", self.request_id)
