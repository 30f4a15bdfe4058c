"""Prometheus metrics: what each call did (read from the flow's finished record), what each HTTP request answered,
and the state of the ledger writer and the local engine, served on /metrics by prometheus-client.

Names follow the OpenTelemetry GenAI semantic conventions where they have one, as Prometheus renders them (dots
become underscores, the unit a suffix): `gen_ai.server.request.duration` is `gen_ai_server_request_duration_seconds`.
Everything else is `basalt_*`. docs/observability.md lists every metric, its labels and buckets.

Each Platform has its own registry, so several platforms in one process (tests, the in-process client) do not
collide. Under several uvicorn workers (`PROMETHEUS_MULTIPROC_DIR` set before the workers start) every worker writes
its values to files in that directory and /metrics, whichever worker answers it, adds them all up.

Every label value is bounded: models only once the name resolved (an unknown name is ""), deployments and guardrails
from the configuration, error types from Basalt's own set, routes from the route table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..dialects.registry import dialect_for
from ..errors import BudgetExceeded, RateLimited
from ..guard import Action
from ..http.edge import Exchange
from ..http.plumbing import CALL

if TYPE_CHECKING:
    from ..control.ledger import Ledger
    from ..engine import EngineStats
    from ..flow import Call

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
REFRESH_SECONDS = 1.0  # how often a worker writes its engine and ledger gauges for the others to add up

# The semantic conventions' ExplicitBucketBoundaries advice for each instrument.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864

# gen_ai.provider.name's well-known values, by the provider part of a deployment's label ("openai:gpt-4o@...").
PROVIDER_NAMES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "local": "basalt",
}
# The usage fields (Anthropic's names) for each gen_ai.token.type; the cache types are Basalt's extension.
TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_write", "cache_creation_input_tokens"),
)
OPERATIONS = {"messages": "chat", "chat.completions": "chat"}
GENAI = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")
M = TypeVar("M", Counter, Histogram)


class Labelled(Generic[M]):
    """A labelled metric's children, kept by their label values: prometheus-client's `labels()` checks and copies
    its arguments under a lock each time (a few microseconds), a dict lookup is a tenth of that. The label values
    are bounded (see the module's docstring), so the dict is too."""

    __slots__ = ("children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self.children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self.metric.labels(*values)
        return child


class Metrics:
    """The platform's metrics: an `Observer` of the flow (`call_ended`), the HTTP edge's `request_ended`, and the
    scrape (`render`). `engine_stats` and `ledgers` are read at each scrape (and, under several workers, every
    REFRESH_SECONDS)."""

    def __init__(
        self,
        engine_stats: Callable[[], EngineStats | None],
        ledgers: Callable[[], Sequence[Ledger]],
    ) -> None:
        self.engine_stats = engine_stats
        self.ledgers = ledgers
        directory = os.environ.get(MULTIPROC_ENV)
        self.directory = Path(directory) if directory else None
        self.registry = CollectorRegistry()
        if self.directory is not None:
            # The values live in the directory's files; the metrics below register nowhere and the scrape reads
            # every worker's files instead.
            MultiProcessCollector(self.registry, path=str(self.directory))  # type: ignore[no-untyped-call]
        r = None if self.directory is not None else self.registry
        self._last: dict[str, float] = {}
        self._define(r)

    def _define(self, r: CollectorRegistry | None) -> None:
        def histogram(name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]) -> Labelled[Histogram]:
            return Labelled(Histogram(name, doc, labels, buckets=buckets, registry=r))

        def counter(name: str, doc: str, labels: Sequence[str]) -> Labelled[Counter]:
            return Labelled(Counter(name, doc, labels, registry=r))

        self.duration = histogram(
            "gen_ai_server_request_duration_seconds",
            "Time from accepting a call to its last byte, however it ended.",
            [*GENAI, "error_type"],
            DURATION_BUCKETS,
        )
        self.ttft = histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from accepting a call to its first output token, for successful calls.",
            GENAI,
            TTFT_BUCKETS,
        )
        self.tpot = histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token after the first, for successful calls of more than one output token.",
            GENAI,
            TPOT_BUCKETS,
        )
        self.tokens = histogram(
            "gen_ai_client_token_usage",
            "Tokens a call used, by type: input, output, cache_read, cache_write.",
            [*GENAI, "gen_ai_token_type"],
            TOKEN_BUCKETS,
        )
        self.requests = counter(
            "basalt_requests",
            "HTTP requests answered, by route, dialect, model, deployment and status code (499: the client left).",
            ["route", "dialect", "model", "deployment", "status"],
        )
        self.attempts = counter(
            "basalt_upstream_attempts",
            "Tries of a deployment, by how they ended (error_type empty: it answered).",
            ["deployment", "error_type"],
        )
        self.retries = counter(
            "basalt_upstream_retries", "Failed tries followed by another try of the same deployment.", ["deployment"]
        )
        self.fallbacks = counter(
            "basalt_upstream_fallbacks", "Deployments left for the next one after failing.", ["deployment"]
        )
        self.cooldowns = counter(
            "basalt_upstream_cooldowns", "Times a deployment was put to rest after failing.", ["deployment"]
        )
        self.rejections = counter(
            "basalt_limit_rejections",
            "Calls refused by a rate limit, concurrency limit or budget, by limit and whose limit it was.",
            ["limit", "owner"],
        )
        self.interventions = counter(
            "basalt_guardrail_interventions",
            "Guardrail checks that blocked or masked, by guardrail, version, stage, action and the policy that acted.",
            ["guardrail", "version", "stage", "action", "policy"],
        )
        self.worker_calls = Gauge(
            "basalt_worker_calls",
            "Calls this server process has seen end (one series per worker process under several workers).",
            registry=r,
            multiprocess_mode="liveall",
        )
        self._define_state(r)

    def _define_state(self, r: CollectorRegistry | None) -> None:
        def gauge(name: str, doc: str, mode: str = "livesum") -> Gauge:
            return Gauge(name, doc, registry=r, multiprocess_mode=mode)  # type: ignore[arg-type]

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, registry=r)

        self.ledger_unflushed = gauge("basalt_ledger_unflushed_rows", "Ledger rows in the journal, not yet stored.")
        self.ledger_lag = gauge(
            "basalt_ledger_lag_seconds", "How long the oldest unflushed ledger row has waited.", "livemax"
        )
        self.ledger_dead = counter("basalt_ledger_dead_lettered_rows", "Rows the database refused (dead-letter file).")
        self.ledger_fitted = counter("basalt_ledger_fitted_rows", "Rows stored only once fitted to their columns.")
        self.engine = {
            "running": gauge("basalt_engine_running_sequences", "Sequences the local engine is decoding."),
            "waiting": gauge("basalt_engine_waiting_sequences", "Sequences waiting for a slot."),
            "kv_cells_used": gauge("basalt_engine_kv_cells_used", "KV cache cells holding live sequences."),
            "kv_cells_cached": gauge("basalt_engine_kv_cells_cached", "KV cache cells kept for prefix reuse."),
            "kv_cells": gauge("basalt_engine_kv_cells", "KV cache cells in all."),
        }
        self.engine_kv_usage = gauge(
            "basalt_engine_kv_usage_ratio", "Share of the KV cache in use (worst worker).", "livemax"
        )
        self.engine_totals = {
            "prefix_reused_tokens": counter("basalt_engine_prefix_reused_tokens", "Prompt tokens served from cache."),
            "steps": counter("basalt_engine_steps", "Decode steps the local engine ran."),
            "tokens_generated": counter("basalt_engine_generated_tokens", "Tokens the local engine generated."),
            "aborted": counter("basalt_engine_aborted_sequences", "Sequences cancelled before they finished."),
            "prefill_tokens": counter("basalt_engine_prefill_tokens", "Prompt tokens computed (not from cache)."),
            "sequence_steps": counter("basalt_engine_sequence_steps", "Sequences in each decode step, summed."),
            "batch_steps": counter("basalt_engine_batch_steps", "Decode steps that ran batch sequences."),
            "batch_idle_fed": counter(
                "basalt_engine_batch_idle_slot_steps_fed", "Free batch slots in batch steps while batch items waited."
            ),
            "batch_idle_starved": counter(
                "basalt_engine_batch_idle_slot_steps_starved", "Free batch slots in batch steps with none queued."
            ),
        }

    # The flow's observer ----------------------------------------------------------------------------------------

    def call_ended(self, call: Call) -> None:
        """Records the call once the event loop is next free: the flow tells its observers as the answer's stream
        ends, before a whole (non-streaming) answer is written to the client, which need not wait for this."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # told outside any event loop
            self.record(call)
        else:
            loop.call_soon(self.record, call)

    def record(self, call: Call) -> None:
        outcome = call.outcome
        answered = call.deployment
        provider = _provider(answered or (call.attempts[-1].deployment if call.attempts else ""))
        genai = (OPERATIONS.get(call.endpoint, call.endpoint), provider, call.request.model if call.target else "")
        ended = outcome.ended or time.monotonic()
        accepted = call.timings.accepted
        error = outcome.error.error_type if outcome.error else "" if outcome.status == "ok" else outcome.status
        if error == "error":
            error = "api_error"  # failed with no Basalt error: what the ledger records too
        self.duration(*genai, error).observe(ended - accepted)
        usage = outcome.usage
        if outcome.status == "ok" and outcome.first_token is not None:
            self.ttft(*genai).observe(outcome.first_token - accepted)
            output = int(usage.get("output_tokens") or 0)
            if output > 1:
                self.tpot(*genai).observe((ended - outcome.first_token) / (output - 1))
        for kind, name in TOKEN_TYPES:
            value = usage.get(name)
            if isinstance(value, int) and (value > 0 or kind in ("input", "output")):
                self.tokens(*genai, kind).observe(value)
        self._attempts(call)
        refused = outcome.error
        if isinstance(refused, RateLimited | BudgetExceeded) and refused.limit is not None:
            self.rejections(refused.limit, refused.owner or "").inc()
        if call.guard is not None:
            for check in call.guard.checks:
                if check.action is not Action.NONE:
                    name, version = check.guardrail.name, check.guardrail.version
                    for policy in check.policies or ("",):
                        self.interventions(name, version, check.stage, check.action.value, policy).inc()
        self.worker_calls.inc()

    def _attempts(self, call: Call) -> None:
        for attempt in call.attempts:
            deployment = attempt.deployment
            self.attempts(deployment, attempt.error or "").inc()
            if attempt.then == "retry":
                self.retries(deployment).inc()
            elif attempt.then == "fallback":
                self.fallbacks(deployment).inc()
            if attempt.cooled:
                self.cooldowns(deployment).inc()

    # The HTTP edge ----------------------------------------------------------------------------------------------

    def request_ended(self, route: str, dialect: str, call: Call | None, status: int) -> None:
        """One HTTP request answered (`status` 0: no response started, the client left); `call` is the flow's
        record, when the route made one."""
        model = call.request.model if call is not None and call.target is not None else ""
        deployment = (call.deployment or "") if call is not None else ""
        self.requests(route, dialect, model, deployment, str(status or 499)).inc()

    def requests_observer(self) -> RequestCounter:
        return RequestCounter(self)

    # The scrape -------------------------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The exposition text (CONTENT_TYPE); under several workers, every worker's values added up."""
        self.refresh()
        if self.directory is not None:
            self._forget_dead_workers()
        return generate_latest(self.registry)

    def refresh(self) -> None:
        """Writes this process's engine and ledger state into the gauges (and the counters' increase)."""
        ledgers = self.ledgers()
        now = time.monotonic()
        self.ledger_unflushed.set(sum(ledger.unflushed for ledger in ledgers))
        self.ledger_lag.set(max((ledger.lag_seconds(now) for ledger in ledgers), default=0.0))
        self._advance(self.ledger_dead, "dead", sum(ledger.dead_lettered for ledger in ledgers))
        self._advance(self.ledger_fitted, "fitted", sum(ledger.fitted for ledger in ledgers))
        stats = self.engine_stats()
        if stats is None:
            return
        for name, gauge in self.engine.items():
            gauge.set(getattr(stats, name))
        self.engine_kv_usage.set(stats.kv_cells_used / stats.kv_cells if stats.kv_cells else 0.0)
        for name, counter in self.engine_totals.items():
            self._advance(counter, name, getattr(stats, name))

    def _advance(self, counter: Counter, key: str, total: float) -> None:
        """Counts a running total's increase since the last refresh (a counter in the worker's files adds up)."""
        last = self._last.get(key, 0.0)
        if total > last:
            counter.inc(total - last)
        self._last[key] = total  # a total that went down (its ledger closed) counts again from there

    async def keep_fresh(self) -> None:
        """Under several workers, refreshes this worker's state every REFRESH_SECONDS: a scrape reaches one worker
        only, and reads the others' state from their files."""
        while True:
            with contextlib.suppress(Exception):
                self.refresh()
            await asyncio.sleep(REFRESH_SECONDS)

    def _forget_dead_workers(self) -> None:
        """Drops the live gauges of worker processes that are gone (killed ones never said so themselves)."""
        assert self.directory is not None
        for path in self.directory.glob("gauge_live*_*.db"):
            match = _LIVE_FILE.fullmatch(path.name)
            if match is not None and not _alive(int(match[1])):
                mark_process_dead(int(match[1]), str(self.directory))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """This worker stops: its live gauges leave the sums (its counters stay in them)."""
        if self.directory is not None:
            mark_process_dead(os.getpid(), str(self.directory))  # type: ignore[no-untyped-call]


def _provider(deployment: str) -> str:
    kind = deployment.partition(":")[0]
    return PROVIDER_NAMES.get(kind, kind)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process by now: ours is gone
        return False
    return True


class RequestCounter:
    """The HTTP edge's observer (`http.edge.EdgeObserver`): each request counted once its response is sent, by its
    route template (empty for a path no route matched), dialect, the call's model and deployment, and status."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def request_ended(self, exchange: Exchange) -> None:
        scope = exchange.scope
        call = scope.get(CALL)
        route = getattr(scope.get("route"), "path", "")
        dialect = call.dialect if call is not None else dialect_for(scope["path"]).name
        self.metrics.request_ended(route, dialect, call, exchange.status or 0)
