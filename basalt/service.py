"""The service behind both dialects: the catalog of models, the providers, and their lifecycle.

The dialects hand it canonical requests and get canonical events back; it is also what runs in-process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from .canonical import MessagesRequest
from .catalog import Catalog
from .config import Settings
from .control import ControlPlane, Principal, Ticket
from .engine.core import EngineConfig, EngineStats
from .engine.runtime import LocalEngine
from .engine.store import BUNDLED, ModelStore, StoreError
from .guard import GuardrailConfig, Guardrails
from .guarding import TRACE_HEADER, GuardedAnswer, attached, replay
from .providers import UPSTREAMS
from .providers.base import EventBatch
from .providers.local import LocalProvider
from .providers.upstream_http import UpstreamClient
from .router import RetryPolicy, Router, Target

log = logging.getLogger("basalt")


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = Catalog()
        self.engine: LocalEngine | None = None
        self.control = ControlPlane(settings)
        # Definitions made through the admin API on any replica are read from the shared database on first use.
        self.guardrails = Guardrails(fetch=self._stored_guardrail, miss_seconds=settings.control.key_cache_seconds)
        self._clients: list[UpstreamClient] = []

    def start(self) -> None:
        stored = self.control.prepare()
        # From the config file, then those defined through the admin API (stored in the database).
        definitions: list[GuardrailConfig | dict[str, Any]] = [*self.settings.guardrails, *stored]
        for definition in definitions:
            self.guardrails.add(definition, replace=True)
        if self.settings.serve_local:
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
            client = getattr(provider, "client", None)
            if isinstance(client, UpstreamClient):
                self._clients.append(client)
            label = f"{d.provider}:{d.model}@{d.base_url}"
            groups.setdefault(d.name, []).append(Target(provider, d.model, d.weight, d.max_concurrency, label=label))
        policy = RetryPolicy(**self.settings.router.model_dump())
        for name, targets in groups.items():
            self.catalog.register(Router(name, targets, policy))

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
            ),
        )
        self.engine.start()
        created = datetime.fromisoformat(installed.installed_at.replace("Z", "+00:00")).astimezone(UTC)
        created_at = created.isoformat().replace("+00:00", "Z")
        self.catalog.register(LocalProvider(self.engine, installed.name, installed.display_name, created_at))
        bundled = BUNDLED.get(installed.name)
        for alias in bundled.aliases if bundled else ():
            self.catalog.alias(alias, installed.name)

    async def aclose(self) -> None:
        """Release what the current event loop holds: upstream connections, the ledger writer, database pools."""
        for client in self._clients:
            await client.close()
        await self.control.close()

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    async def answer(
        self,
        principal: Principal,
        request: MessagesRequest,
        endpoint: str,
        request_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[AsyncIterator[EventBatch], Ticket]:
        """The flow after decoding: admit (limits, budget, ledger reservation), input guardrails, the provider,
        output guardrails, metering."""
        headers = headers or {}
        self.catalog.resolve(request.model)  # an unknown model is a 404, not an admitted request
        guardrails = await attached(self.guardrails, self.settings.model_guardrails, principal, request.model, headers)
        ticket = await self.control.admit(principal, request, endpoint, request_id)
        if not guardrails:
            return ticket.meter(self.stream(request)), ticket
        guard = GuardedAnswer(guardrails, headers.get(TRACE_HEADER, "").lower() == "enabled")
        ticket.outcomes.append(lambda: guard.action)
        try:
            request, refusal = await guard.check_input(request)
        except BaseException as exc:
            ticket.settle({}, "error", getattr(exc, "error_type", "api_error"))
            raise
        if refusal is not None:  # a blocked request never reaches the model
            return ticket.meter(replay(refusal)), ticket
        return ticket.meter(guard.check_output(request, self.stream(request))), ticket

    def stream(self, request: MessagesRequest) -> AsyncIterator[EventBatch]:
        provider, model_id, _ = self.catalog.resolve(request.model)
        if not isinstance(provider, Router):
            request.note_deployment(f"local:{model_id}")
        return provider.stream(request, request.model)

    async def count_tokens(self, request: MessagesRequest) -> int:
        provider, _, _ = self.catalog.resolve(request.model)
        return await provider.count_tokens(request, request.model)

    def engine_stats(self) -> EngineStats | None:
        return self.engine.stats() if self.engine else None
