"""Providers: where a canonical request is answered. One module each, behind the `Provider` protocol."""

from .anthropic import AnthropicProvider
from .base import ModelInfo, Provider
from .openai_compat import OpenAICompatProvider

# Upstream providers by the name a deployment gives in the config. Adding one is a module and a line here.
UPSTREAMS: dict[str, type[AnthropicProvider] | type[OpenAICompatProvider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAICompatProvider,
}

__all__ = ["UPSTREAMS", "AnthropicProvider", "ModelInfo", "OpenAICompatProvider", "Provider"]
