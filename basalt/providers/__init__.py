"""Providers: where a canonical request is answered. One module each, behind the `Provider` protocol."""

from .base import ModelInfo, Provider

__all__ = ["ModelInfo", "Provider"]
