"""Providers: where a canonical request is answered. One module each, behind the `Provider` protocol."""

from .anthropic import AnthropicProvider
from .base import ModelInfo, Provider, UpstreamFactory
from .bedrock import BedrockProvider
from .gemini import GeminiProvider
from .openai_compat import OpenAICompatProvider

# Upstream providers by the name a deployment gives in the config (`provider:`). A new provider is one module and
# one line here; nothing else in Basalt names providers.
UPSTREAMS: dict[str, UpstreamFactory] = {
    "anthropic": AnthropicProvider,
    "bedrock": BedrockProvider,
    "openai": OpenAICompatProvider,  # any Chat Completions server: OpenAI, vLLM, Ollama, llama-server, ...
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
    "UpstreamFactory",
]
