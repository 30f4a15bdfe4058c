"""The request flow: one path for every entry point (HTTP dialects, the in-process client, batches, evaluations)."""

from ..router import Attempt
from .call import Call, CallOptions, Outcome, Target, Timings
from .flow import Flow
from .observe import Observer, Observers

__all__ = ["Attempt", "Call", "CallOptions", "Flow", "Observer", "Observers", "Outcome", "Target", "Timings"]
