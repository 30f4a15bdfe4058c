"""The guardrails a server knows, by (name, version), compiled once and sharing one set of loaded models.

Replicas share their definitions through the database: a (name, version) is written once and never changed, so a
replica that does not know one asks the database (`fetch`) on first use, compiles it off the event loop and keeps
it. A definition in memory is therefore never stale; only a miss is remembered, for `miss_seconds`, so that a flood
of requests naming an unknown guardrail costs one database read per name and period, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import ValidationError

from ..errors import InvalidRequest, NotFound, Overloaded
from .config import GuardrailConfig
from .guardrail import Guardrail, Resources

log = logging.getLogger("basalt.guard")
Fetch = Callable[[str, str], Awaitable[dict[str, Any] | None]]  # (name, version) -> the stored definition
Key = tuple[str, str]
# What a stored definition's name and version can be (GuardrailConfig's rules, and the table's column widths):
# anything else is not looked up, so a hostile reference never reaches the database.
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,50}")
_VERSION = re.compile(r"DRAFT|[0-9]{1,40}")


def storable(key: Key) -> bool:
    return bool(_NAME.fullmatch(key[0]) and _VERSION.fullmatch(key[1]))


def validate(config: GuardrailConfig | dict[str, Any]) -> GuardrailConfig:
    if isinstance(config, GuardrailConfig):
        return config
    try:
        return GuardrailConfig.model_validate(config)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"invalid guardrail: {where + ': ' if where else ''}{first['msg']}") from None


class Guardrails:
    def __init__(
        self,
        configs: Iterable[GuardrailConfig | dict[str, Any]] = (),
        resources: Resources | None = None,
        fetch: Fetch | None = None,
        miss_seconds: float = 1.0,
    ):
        self.resources = resources or Resources()
        self.fetch = fetch
        self.miss_seconds = miss_seconds
        self._lock = threading.Lock()
        self._by_key: dict[Key, Guardrail] = {}
        self._misses: dict[Key, float] = {}  # key -> until when it is known to be absent (monotonic)
        self._pending: dict[tuple[asyncio.AbstractEventLoop, Key], asyncio.Future[Guardrail | None]] = {}
        for config in configs:
            self.add(config)

    def compile(self, config: GuardrailConfig | dict[str, Any]) -> Guardrail:
        """Validate and compile a definition without registering it (loads the models it needs: off the loop)."""
        return Guardrail(validate(config), self.resources)

    def register(self, guardrail: Guardrail, replace: bool = False) -> Guardrail:
        """Make a compiled guardrail usable; without `replace`, one already registered under its key stays."""
        key = guardrail.config.key
        with self._lock:
            if not replace and key in self._by_key:
                return self._by_key[key]
            self._by_key[key] = guardrail
            self._misses.pop(key, None)
        return guardrail

    def add(self, config: GuardrailConfig | dict[str, Any], replace: bool = False) -> Guardrail:
        """Compile and register a guardrail (loads the models it needs, so call it off the event loop)."""
        config = validate(config)
        if not replace and config.key in self._by_key:
            raise InvalidRequest(f"guardrail {config.name} version {config.version} already exists")
        return self.register(self.compile(config), replace=True)

    def remove(self, name: str, version: str | int) -> None:
        with self._lock:
            if self._by_key.pop((name, str(version)), None) is None:
                raise NotFound(f"guardrail {name} version {version} not found")

    def get(self, name: str, version: str | int = "DRAFT") -> Guardrail:
        guardrail = self._by_key.get((name, str(version)))
        if guardrail is None:
            raise NotFound(f"guardrail {name} version {version} not found")
        return guardrail

    async def find(self, name: str, version: str | int = "DRAFT") -> Guardrail | None:
        """The guardrail, from memory or else from the shared definitions; None if it is defined nowhere."""
        key = (name, str(version))
        found = self._by_key.get(key)
        if found is not None or self.fetch is None or not storable(key):
            return found
        if self._misses.get(key, 0.0) > time.monotonic():
            return None
        slot = (asyncio.get_running_loop(), key)
        pending = self._pending.get(slot)
        if pending is None:  # one database read and one compilation however many requests ask meanwhile
            pending = self._pending[slot] = asyncio.ensure_future(self._load(self.fetch, key))
            pending.add_done_callback(lambda _: self._pending.pop(slot, None))
        return await asyncio.shield(pending)

    async def _load(self, fetch: Fetch, key: Key) -> Guardrail | None:
        try:
            stored = await fetch(*key)
        except Exception as exc:
            log.error("cannot read guardrail definitions: %s", exc)
            message = "Basalt cannot reach its guardrail definitions right now; retry shortly."
            raise Overloaded(message, retry_after=1) from None
        if stored is None:
            with self._lock:
                if len(self._misses) > 10_000:  # unknown names are remembered too; keep a flood from growing the map
                    self._misses.clear()
                self._misses[key] = time.monotonic() + self.miss_seconds
            return None
        return self.register(await asyncio.to_thread(self.compile, stored))

    def __contains__(self, key: tuple[str, str | int]) -> bool:
        return (key[0], str(key[1])) in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def configs(self) -> list[GuardrailConfig]:
        return [g.config for g in self._by_key.values()]
