"""The control plane: API keys and tenants, rate limits, budgets and the usage ledger."""

from .admission import CallFacts, Ticket
from .plane import ControlPlane
from .principal import ENDPOINTS, Principal
from .records import ApiKey, Limits, Project
from .store import Store

__all__ = ["ENDPOINTS", "ApiKey", "CallFacts", "ControlPlane", "Limits", "Principal", "Project", "Store", "Ticket"]
