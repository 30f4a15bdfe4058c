"""The local inference engine on llama.cpp: continuous batching over one model, with its model store.

The public face is what `__all__` names: `LocalEngine.submit()` gives a `Generation` (an async iterator of outputs),
`ModelStore` finds and pulls model files. The scheduler, the engine thread and the llama.cpp bindings stay private;
llama.cpp itself loads on first use, not at import.
"""

from .core import EngineConfig, EngineStats, SequenceTimings
from .runtime import Generation, GenerationParams, LocalEngine
from .store import BUNDLED, InstalledModel, ModelStore, StoreError

__all__ = [
    "BUNDLED",
    "EngineConfig",
    "EngineStats",
    "Generation",
    "GenerationParams",
    "InstalledModel",
    "LocalEngine",
    "ModelStore",
    "SequenceTimings",
    "StoreError",
]
