"""Model names -> the provider that serves them. Aliases let apps with hard-coded model names work unchanged."""

from __future__ import annotations

from dataclasses import replace

from .errors import NotFound
from .providers.base import ModelInfo, Provider


class Catalog:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[Provider, str, ModelInfo]] = {}

    def register(self, provider: Provider) -> None:
        for info in provider.models():
            self._entries[info.id] = (provider, info.id, info)

    def alias(self, name: str, target: str) -> None:
        provider, model_id, info = self.resolve(target)
        self._entries[name] = (provider, model_id, replace(info, id=name, display_name=f"{name} (alias of {model_id})"))

    def resolve(self, name: str) -> tuple[Provider, str, ModelInfo]:
        try:
            return self._entries[name]
        except KeyError:
            raise NotFound(f"model: {name}", param="model") from None

    def models(self) -> list[ModelInfo]:
        return [info for _, _, info in self._entries.values()]
