"""Guardrails: Bedrock-class input and output policies, checked offline, on whole texts and on event streams.

    registry = Guardrails(settings_guardrail_dicts)           # compile once (loads the models they need)
    guardrail = registry.get("support", "1")
    verdict = check_request(guardrail, request)               # before the model: blocked, masked or unchanged
    guarded = guard_stream(guardrail, provider_batches, trace=True)
    async for batch in guarded: ...                           # after: masked / blocked event batches, well-formed
    guarded.action, guarded.assessments()                     # for the usage ledger
    app.include_router(build_router(registry, authorize))     # POST /v1/guardrails/{id}/versions/{v}/apply

See docs/guardrails.md for the policies, their measured quality, and their limits.
"""

from .api import build_router
from .config import (
    ContentFilter,
    DeniedTopic,
    EntityFilter,
    GroundingPolicy,
    GuardrailConfig,
    RegexFilter,
    SensitiveInformationPolicy,
    WordPolicy,
)
from .grounding import GroundingContext
from .guardrail import Guardrail, Resources
from .registry import Guardrails
from .request import InputVerdict, check_request, grounding_context, refusal_events
from .stream import GuardedStream, guard_stream
from .types import Action, Assessment, Finding, Source

__all__ = [
    "Action",
    "Assessment",
    "ContentFilter",
    "DeniedTopic",
    "EntityFilter",
    "Finding",
    "GroundingContext",
    "GroundingPolicy",
    "GuardedStream",
    "Guardrail",
    "GuardrailConfig",
    "Guardrails",
    "InputVerdict",
    "RegexFilter",
    "Resources",
    "SensitiveInformationPolicy",
    "Source",
    "WordPolicy",
    "build_router",
    "check_request",
    "grounding_context",
    "guard_stream",
    "refusal_events",
]
