"""Providers: where a canonical request is answered. One module each, behind the `Provider` protocol."""

from .anthropic import AnthropicProvider
from .base import ModelInfo, Provider
from .bedrock import BedrockProvider
from .gemini import GeminiProvider
from .openai_compat import OpenAICompatProvider

# Upstream providers by the name a deployment gives in the config. Adding one is a module and a line here.
UPSTREAMS: dict[
    str, type[AnthropicProvider] | type[OpenAICompatProvider] | type[GeminiProvider] | type[BedrockProvider]
] = {
    "anthropic": AnthropicProvider,
    "bedrock": BedrockProvider,
    "openai": OpenAICompatProvider,
    "gemini": GeminiProvider,
}

__all__ = [
    "UPSTREAMS",
    "AnthropicProvider",
    "BedrockProvider",
    "GeminiProvider",
    "ModelInfo",
    "OpenAICompatProvider",
    "Provider",
]
