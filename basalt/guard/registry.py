"""The guardrails a server knows, by (name, version), compiled once and sharing one set of loaded models."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from ..errors import InvalidRequest, NotFound
from .config import GuardrailConfig
from .guardrail import Guardrail, Resources


class Guardrails:
    def __init__(self, configs: Iterable[GuardrailConfig | dict[str, Any]] = (), resources: Resources | None = None):
        self.resources = resources or Resources()
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], Guardrail] = {}
        for config in configs:
            self.add(config)

    def add(self, config: GuardrailConfig | dict[str, Any], replace: bool = False) -> Guardrail:
        """Compile and register a guardrail (loads the models it needs, so call it off the event loop)."""
        if not isinstance(config, GuardrailConfig):
            try:
                config = GuardrailConfig.model_validate(config)
            except ValidationError as exc:
                raise InvalidRequest(f"invalid guardrail: {exc.errors(include_url=False)[0]['msg']}") from None
        if not replace and config.key in self._by_key:
            raise InvalidRequest(f"guardrail {config.name} version {config.version} already exists")
        guardrail = Guardrail(config, self.resources)
        with self._lock:
            self._by_key[config.key] = guardrail
        return guardrail

    def remove(self, name: str, version: str | int) -> None:
        with self._lock:
            if self._by_key.pop((name, str(version)), None) is None:
                raise NotFound(f"guardrail {name} version {version} not found")

    def get(self, name: str, version: str | int = "DRAFT") -> Guardrail:
        guardrail = self._by_key.get((name, str(version)))
        if guardrail is None:
            raise NotFound(f"guardrail {name} version {version} not found")
        return guardrail

    def __contains__(self, key: tuple[str, str | int]) -> bool:
        return (key[0], str(key[1])) in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def configs(self) -> list[GuardrailConfig]:
        return [g.config for g in self._by_key.values()]
