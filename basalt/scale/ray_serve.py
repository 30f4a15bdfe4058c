"""The local engine as a Ray Serve deployment, and the gateway's provider over it.

Each replica (`EngineReplica`) runs the same `LocalProvider` over its own `LocalEngine` (its own KV and prefix cache),
so grammars, tools and stop sequences behave as they do in process, and streams back the canonical event batches.
The gateway keeps its whole flow (keys, limits, guardrails, ledger) in front: `RayEngineProvider` is one more provider.

Routing runs in the gateway's deployment handle: Ray Serve builds the deployment's request router (`AffinityRouter`,
named in the deployment's config) inside every handle, and it ranks the replicas by prefix affinity
(`basalt.scale.affinity`) from the prefix key the gateway computed, with the handle's own queue lengths as the load.
A router in the handle rather than the gateway holding a handle per replica: Ray Serve exposes no per-replica handle,
and its router already tracks replicas joining, dying and filling up (docs/scale-out.md).

Imported only with `engine.backend: ray` (Ray is an optional extra: `pip install 'basalt[ray]'`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.exceptions import RayActorError, RayError
from ray.serve.config import RequestRouterConfig
from ray.serve.exceptions import RayServeException
from ray.serve.handle import DeploymentHandle
from ray.serve.request_router import PendingRequest, RequestRouter, RunningReplica

from ..canonical import MessagesRequest
from ..config import EngineSettings, Settings
from ..engine import BUNDLED, EngineConfig, LocalEngine, ModelStore, StoreError
from ..errors import BasaltError, InternalError, Overloaded
from ..providers.base import EventBatch, ModelInfo, Priority, open_stream
from ..providers.local import LocalProvider
from .affinity import Affinity, prefix_key

__all__ = ["AffinityRouter", "EngineReplica", "RayEngineProvider", "serve_engine"]

log = logging.getLogger("basalt.scale")
DEPLOYMENT = "engine"
# A replica that died before sending anything: the call goes to another one (Serve drops the dead one from the
# handle's router when it notices); these are the tries in all, a short pause between them.
FIRST_EVENT_TRIES = 4
_GONE = (RayActorError, RayServeException)


@dataclass(frozen=True)
class Failure:
    """A Basalt error raised in a replica, sent as an item of its stream so the gateway re-raises it as it is (Ray
    would wrap it in a RayTaskError)."""

    error: BasaltError


class EngineReplica:
    """One Ray Serve replica: the bundled model on llama.cpp behind the same LocalProvider the gateway runs in
    process. Constructed by Ray on the replica's node from the home holding the model (pulled there if missing)."""

    def __init__(self, home: str, model: str, engine: dict[str, Any], threads: int) -> None:
        store = ModelStore(Path(home))
        installed = store.find(model)
        if installed is None:
            if model not in BUNDLED:
                raise StoreError(f"model {model!r} is not installed in {home} on this node")
            installed = store.pull(model)
        fields = {f.name for f in dataclasses.fields(EngineConfig)}
        config = EngineConfig(**{k: v for k, v in engine.items() if k in fields})
        if config.n_threads == 0:  # one thread per CPU the replica was given, not one per core of the node
            config = dataclasses.replace(config, n_threads=threads)
        self.engine = LocalEngine(installed.path, config)
        self.engine.start()
        created = datetime.fromisoformat(installed.installed_at.replace("Z", "+00:00")).astimezone(UTC)
        created_at = created.isoformat().replace("+00:00", "Z")
        self.provider = LocalProvider(self.engine, installed.name, installed.display_name, created_at)
        self.replica = serve.get_replica_context().replica_id.unique_id

    def __del__(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.stop()

    def info(self) -> dict[str, Any]:
        return dataclasses.asdict(self.provider.info)

    def stats(self, route_to: int | None = None) -> dict[str, Any]:
        """This replica's id and engine counters (prefix-reused tokens among them)."""
        return {"replica": self.replica, **dataclasses.asdict(self.engine.stats())}

    async def count_tokens(self, request: MessagesRequest, model: str, prefix_key: str | None = None) -> int | Failure:
        try:
            return await self.provider.count_tokens(request, model)
        except BasaltError as exc:
            return Failure(exc)

    async def stream(
        self, request: MessagesRequest, model: str, priority: Priority, prefix_key: str | None = None
    ) -> AsyncIterator[EventBatch | Failure]:
        """The answer's event batches; a Basalt error, before or after the first, as the last item."""
        try:
            async for batch in open_stream(self.provider, request, model, priority):
                yield batch
        except BasaltError as exc:
            yield Failure(exc)


class AffinityRouter(RequestRouter):  # type: ignore[misc]  # Ray's class is Any to mypy
    """Ray Serve's request router for the engine: the affinity ranking over the replicas, each rank one replica, so
    Serve tries them in that order and skips a full one. Not FIFO: a replica chosen for a call goes to that call."""

    def initialize_state(self, **kwargs: Any) -> None:
        """Called by Serve with the deployment's request_router_kwargs."""
        self.affinity = Affinity(str(kwargs.get("policy", "prefix")), int(kwargs.get("max_imbalance", 4)))

    async def choose_replicas(
        self, candidate_replicas: list[RunningReplica], pending_request: PendingRequest | None = None
    ) -> list[list[RunningReplica]]:
        replicas = sorted(candidate_replicas, key=lambda r: r.replica_id.unique_id)
        if not replicas:
            return []
        kwargs: dict[str, Any] = {}
        if pending_request is not None:
            pending_request.routing_context.should_backoff = True  # after a full round, Serve backs off
            kwargs = pending_request.kwargs
        route_to = kwargs.get("route_to")
        if isinstance(route_to, int):  # a diagnostic call addressed to the n-th replica (stats of each)
            start = route_to % len(replicas)
            order = [(start + n) % len(replicas) for n in range(len(replicas))]
        else:
            cache = self._replica_queue_len_cache
            loads = [cache.get(r.replica_id) or 0 for r in replicas]
            order = self.affinity.order(kwargs.get("prefix_key"), [r.replica_id.unique_id for r in replicas], loads)
        return [[replicas[i]] for i in order]


class RayEngineProvider:
    """The gateway's provider over the deployment's handle: computes the call's prefix key, retries a call whose
    replica died before its first event on another one, and ends a stream cut mid-way with an error (the flow turns it
    into the dialect's error event and a ledger row)."""

    def __init__(self, handle: DeploymentHandle, info: ModelInfo, settings: EngineSettings, app: str) -> None:
        self.handle = handle
        self.info = info
        self.app = app
        self.prefix_chars = settings.prefix_chars
        self.keyed = settings.routing == "prefix"

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Nothing held per event loop: the handle belongs to the Ray driver, which outlives loops."""

    def _key(self, request: MessagesRequest) -> str | None:
        return prefix_key(request, self.prefix_chars) if self.keyed else None

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        try:
            result = await self.handle.count_tokens.remote(request, model, prefix_key=self._key(request))
        except RayError as exc:
            raise InternalError(f"the engine replica failed: {type(exc).__name__}") from None
        if isinstance(result, Failure):
            raise result.error
        return int(result)

    def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        return self.stream_at("interactive", request, model)

    async def stream_at(self, priority: Priority, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        key = self._key(request)
        caller = self.handle.options(stream=True)
        for attempt in range(FIRST_EVENT_TRIES):
            events = caller.stream.remote(request, model, priority, prefix_key=key)
            try:
                first = await events.__anext__()
                break
            except _GONE as exc:
                events.cancel()
                log.warning("engine replica gone before answering (%s); trying another", type(exc).__name__)
                await asyncio.sleep(0.25 * (attempt + 1))
            except StopAsyncIteration:
                raise InternalError("the engine replica ended the call without an answer") from None
            except RayError as exc:
                raise InternalError(f"the engine replica failed: {type(exc).__name__}") from None
        else:
            raise Overloaded("no engine replica could take the call; retry shortly.", retry_after=1)
        done = False
        try:
            yield _unwrap(first)
            async for item in events:
                yield _unwrap(item)
            done = True
        except (RayError, RayServeException) as exc:
            raise InternalError(f"the engine replica stopped mid-answer ({type(exc).__name__})") from None
        finally:
            if not done:
                events.cancel()  # the client left (or the stream failed): the replica aborts the sequence

    def replica_stats(self) -> list[dict[str, Any]]:
        """Each running replica's engine counters, one diagnostic call addressed to each; blocks (off event loops:
        the tests, the benchmark, an operator's shell)."""
        calls = [self.handle.stats.remote(route_to=n) for n in range(running_replicas(self.app))]
        return list({s["replica"]: s for s in (call.result(timeout_s=30) for call in calls)}.values())


def _unwrap(item: EventBatch | Failure) -> EventBatch:
    if isinstance(item, Failure):
        raise item.error
    return item


def running_replicas(app: str) -> int:
    """Replicas of the engine deployment Serve reports running."""
    status = serve.status().applications.get(app)
    if status is None:
        return 0
    return int(status.deployments[DEPLOYMENT].replica_states.get("RUNNING", 0))


def disconnect_later() -> Callable[[], None]:
    """What to call at stop: disconnect the Ray driver if this process connects it here (not if it was already)."""
    if ray.is_initialized():
        return lambda: None
    return lambda: ray.shutdown()


def serve_engine(settings: Settings) -> RayEngineProvider:
    """Attach to (or start) Ray, deploy the engine application unless told to attach to one, and the provider over
    it. Blocks until the replicas are running, as loading the model in process does."""
    e = settings.engine
    if not ray.is_initialized():
        ray.init(address=e.address, namespace="basalt", log_to_driver=False, logging_level=logging.WARNING)
    serve.start(proxy_location="Disabled")
    if e.deploy:
        handle = serve.run(_application(settings), name=e.app, route_prefix=None)
    else:
        handle = serve.get_deployment_handle(DEPLOYMENT, app_name=e.app)
    info = ModelInfo(**handle.info.remote().result())
    return RayEngineProvider(handle, info, e, e.app)


def _application(settings: Settings) -> Any:
    e = settings.engine
    scale: dict[str, Any] = {"num_replicas": e.replicas}
    if e.min_replicas is not None and e.max_replicas is not None:
        scale = {
            "autoscaling_config": {
                "min_replicas": e.min_replicas,
                "max_replicas": e.max_replicas,
                "target_ongoing_requests": e.max_seqs,
            }
        }
    router = RequestRouterConfig(
        request_router_class="basalt.scale.ray_serve:AffinityRouter",
        request_router_kwargs={"policy": e.routing, "max_imbalance": e.max_imbalance},
    )
    engine = e.model_dump(exclude={"backend"})
    args = (str(settings.home), settings.local_model, engine, max(1, int(e.cpus_per_replica)))
    deployment = serve.deployment(
        name=DEPLOYMENT,
        ray_actor_options={"num_cpus": e.cpus_per_replica},
        # The engine queues what it cannot run yet (max_waiting); beyond that a call waits in the handle for a slot.
        max_ongoing_requests=e.max_seqs + e.max_waiting,
        request_router_config=router,
        health_check_period_s=2,
        health_check_timeout_s=10,
        **scale,
    )(EngineReplica)
    return deployment.bind(*args)
