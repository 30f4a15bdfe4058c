"""The request flow: one path for every entry point (HTTP dialects, the in-process client, batches, evaluations)."""

from ..router import Attempt
from .call import Call, CallOptions, Target, Timings
from .flow import Flow

__all__ = ["Attempt", "Call", "CallOptions", "Flow", "Target", "Timings"]
