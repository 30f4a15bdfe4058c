"""Basalt: an open generative-AI platform. Anthropic Messages and OpenAI Chat Completions over a bundled local model.

The public API is what `__all__` names; everything else is private to its room.
"""

from .app import create_app
from .config import EngineSettings, Settings
from .errors import BasaltError
from .inprocess import InProcess
from .wiring import Platform

__all__ = ["BasaltError", "EngineSettings", "InProcess", "Platform", "Settings", "create_app"]
__version__ = "0.1.0"
