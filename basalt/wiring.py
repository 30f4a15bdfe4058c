"""Start-up: the settings made into a running platform (providers from their registry, the local engine, the control
plane, the guardrails) and the one flow over them that every entry point calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .batches import BatchEngine
from .catalog import Catalog
from .config import Settings
from .control import ControlPlane
from .engine import BUNDLED, EngineConfig, EngineStats, LocalEngine, ModelStore, StoreError
from .errors import BasaltError
from .evals import Evals
from .files.stores import open_store
from .flow import Flow, Observers
from .guard import GuardrailConfig, Guardrails
from .observe.metrics import Metrics
from .providers import UPSTREAMS, Provider
from .providers.local import LocalProvider
from .router import PrefixRouting, RetryPolicy, Router, Target

if TYPE_CHECKING:
    from .observe.tracing import Tracing

log = logging.getLogger("basalt")


class Platform:
    """What one Basalt process serves: `flow` answers calls; `start` loads models and replays the ledger, `aclose`
    releases what the current event loop holds, `stop` stops the engine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog()
        self.engine: LocalEngine | None = None
        self.control = ControlPlane(settings)
        # Definitions made through the admin API on any replica are read from the shared database on first use.
        self.guardrails = Guardrails(fetch=self._stored_guardrail, miss_seconds=settings.control.key_cache_seconds)
        self.observers = Observers()  # metrics, traces and the access log add themselves (basalt/observe/)
        self.flow = Flow(self.catalog, self.control, self.guardrails, settings.model_guardrails, self.observers)
        self.metrics: Metrics | None = None  # None: metrics are off, /metrics is a 404
        if settings.observability.metrics.enabled:
            self.metrics = Metrics(self.engine_stats, self.control.ledgers)
            self.observers.add(self.metrics)
        self._providers: list[Provider] = []
        self._stop_ray: Callable[[], None] | None = None
        self.tracing = _tracing(settings)
        if self.tracing is not None:
            self.observers.add(self.tracing)
        # Uploaded and produced files (OpenAI Files, batch inputs and outputs): the home's directory or the database.
        self.files = open_store(
            settings.files.store, settings.database_url(), settings.home, lambda: self.control.store().db
        )
        self.batches = BatchEngine(settings.batches, self.control, self.flow, self._batch_concurrency(), self._slots)
        # Eval runs are batches of this engine; a driver in every replica moves them on (basalt/evals/).
        knows = lambda model: self._slots(model) is not None  # noqa: E731
        self.evals = Evals(settings.evals, self.control, self.batches, self.files, knows, lambda: settings.local_model)

    def _batch_concurrency(self) -> int:
        """Items this replica runs at once: the local engine's window, 4 per upstream deployment."""
        if self.settings.batches.concurrency is not None:
            return self.settings.batches.concurrency
        local = self._local_window() if self.settings.serve_local else 0
        return max(1, local + 4 * len(self.settings.deployments))

    def _local_window(self) -> int:
        """Items of the local model in flight at once: twice the engine's sequences, so that when its batch slots
        free up (all at once, when items of one length finish together) the next items are already prepared and
        queued in the engine, not still being leased, templated and tokenized while the slots stay empty. Ray
        replicas each run an engine of that many sequences."""
        e = self.settings.engine
        return 2 * e.max_seqs * ((e.max_replicas or e.replicas) if e.backend == "ray" else 1)

    def _slots(self, model: str) -> int | None:
        """How many items of one model may run at once here: the engine's window for the local model, 4 per
        deployment (or its max_concurrency) for an upstream one; None for a name nothing serves."""
        try:
            provider, _, _ = self.catalog.resolve(model)
        except BasaltError:
            return None
        if isinstance(provider, Router):
            return sum(t.max_concurrency or 4 for t in provider.targets)
        return self._local_window()

    def start(self) -> None:
        stored = self.control.prepare()
        # From the config file, then those defined through the admin API (stored in the database).
        definitions: list[GuardrailConfig | dict[str, Any]] = [*self.settings.guardrails, *stored]
        for definition in definitions:
            self.guardrails.add(definition, replace=True)
        if self.settings.serve_local and self.settings.engine.backend == "ray":
            self._start_ray()
        elif self.settings.serve_local:
            self._start_local()
        self._start_deployments()
        for alias, target in self.settings.aliases.items():
            self.catalog.alias(alias, target)

    async def _stored_guardrail(self, name: str, version: str) -> dict[str, Any] | None:
        return await self.control.store().guardrail_definition(name, version)

    def _start_deployments(self) -> None:
        groups: dict[str, list[Target]] = {}
        for d in self.settings.deployments:
            provider = UPSTREAMS[d.provider](d.name, d.model, d.base_url, d.api_key_env, d.timeout)
            label = f"{d.provider}:{d.model}@{d.base_url}"
            groups.setdefault(d.name, []).append(Target(provider, d.model, d.weight, d.max_concurrency, label=label))
        policy = RetryPolicy(**self.settings.router.model_dump())
        cached = {d.name for d in self.settings.deployments if d.prefix_cache}
        cached -= {d.name for d in self.settings.deployments if not d.prefix_cache}  # every deployment of the name
        e = self.settings.engine
        for name, targets in groups.items():
            prefix = PrefixRouting(e.prefix_chars, e.max_imbalance) if name in cached else None
            router = Router(name, targets, policy, prefix)
            self.catalog.register(router)
            self._providers.append(router)

    def _start_local(self) -> None:
        store = ModelStore(self.settings.home)
        name = self.settings.local_model
        installed = store.find(name)
        if installed is None:
            if name not in BUNDLED:
                raise StoreError(f"model {name!r} is not installed; run `basalt pull {name}` first")
            log.info("pulling %s into %s", name, store.root)
            installed = store.pull(name)
        e = self.settings.engine
        self.engine = LocalEngine(
            installed.path,
            EngineConfig(
                context_window=e.context_window,
                max_seqs=e.max_seqs,
                n_batch=e.n_batch,
                prefill_chunk=e.prefill_chunk,
                n_threads=e.n_threads,
                poll=e.poll,
                max_waiting=e.max_waiting,
                batch_reserve=e.batch_reserve,
                batch_prefill=e.batch_prefill,
                batch_busy_decode=e.batch_busy_decode,
                batch_busy_linger=e.batch_busy_linger,
            ),
        )
        self.engine.start()
        created = datetime.fromisoformat(installed.installed_at.replace("Z", "+00:00")).astimezone(UTC)
        created_at = created.isoformat().replace("+00:00", "Z")
        provider = LocalProvider(self.engine, installed.name, installed.display_name, created_at)
        self.catalog.register(provider)
        self._providers.append(provider)
        bundled = BUNDLED.get(installed.name)
        for alias in bundled.aliases if bundled else ():
            self.catalog.alias(alias, installed.name)

    def _start_ray(self) -> None:
        """The local model as Ray Serve replicas (docs/scale-out.md); Ray loads only here, as an optional extra."""
        try:
            from .scale import ray_serve
        except ImportError as exc:
            raise SystemExit(f"basalt: engine.backend ray needs Ray Serve: pip install 'basalt[ray]' ({exc})") from None
        self._stop_ray = ray_serve.disconnect_later()
        provider = ray_serve.serve_engine(self.settings)
        self.catalog.register(provider)
        self._providers.append(provider)
        bundled = BUNDLED.get(provider.info.id)
        for alias in bundled.aliases if bundled else ():
            self.catalog.alias(alias, provider.info.id)

    async def aclose(self) -> None:
        """Release what the current event loop holds: upstream connections, the ledger writer, database pools."""
        await self.evals.aclose()
        await self.batches.aclose()  # first: its items' calls settle in the ledger before it closes
        for provider in self._providers:
            await provider.aclose()
        await self.control.close()

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None
        if self._stop_ray is not None:  # the Ray driver this platform connected (the replicas keep running)
            self._stop_ray()
            self._stop_ray = None
        if self.tracing is not None:  # exports the spans still queued (waits for the collector, at most its timeout)
            self.tracing.shutdown()
            self.tracing = None

    def engine_stats(self) -> EngineStats | None:
        return self.engine.stats() if self.engine else None


def _tracing(settings: Settings) -> Tracing | None:
    """The tracing observer when tracing is on; off, the OpenTelemetry SDK is not even imported."""
    if not settings.observability.tracing.enabled:
        return None
    try:
        from .observe.tracing import Tracing, headers_from_env
    except ImportError as exc:
        raise SystemExit(f"basalt: tracing needs the OpenTelemetry SDK: pip install 'basalt[otel]' ({exc})") from None
    try:
        headers_from_env(settings.observability.tracing.headers_env)
    except ValueError as exc:
        raise SystemExit(f"basalt: {exc}") from None
    return Tracing(settings.observability.tracing)
