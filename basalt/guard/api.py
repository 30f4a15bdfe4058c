"""The standalone check, as Bedrock's ApplyGuardrail: POST /v1/guardrails/{id}/versions/{version}/apply."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidRequest, NotFound
from ..http.plumbing import read_body
from .grounding import GroundingContext
from .guardrail import Guardrail
from .registry import Guardrails
from .types import Action, Finding, Source, assessments_of

Authorize = Callable[[Request], Awaitable[Any]]
_MAX_CHARS = 1_000_000  # a guard on work, well above Bedrock's per-call text limits
MAX_BODY_BYTES = 8 << 20  # room for _MAX_CHARS characters, even escaped


class _Text(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    qualifiers: list[Literal["grounding_source", "query", "guard_content"]] = Field(default_factory=list)


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: _Text


class ApplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Source
    content: list[_Content] = Field(min_length=1)
    outputScope: Literal["INTERVENTIONS", "FULL"] | None = None  # Bedrock's spelling


def _parse(raw: bytes) -> ApplyBody:
    try:
        return ApplyBody.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"{where}: {first['msg']}" if where else str(first["msg"])) from None


def apply(guardrail: Guardrail, body: ApplyBody) -> dict[str, Any]:
    """Check the content items: each guarded item is assessed on its own; `grounding_source` and `query` items
    are the context of the grounding check, not checked themselves (as in Bedrock)."""
    items = [c.text for c in body.content]
    if sum(len(i.text) for i in items) > _MAX_CHARS:
        raise InvalidRequest(f"content is longer than {_MAX_CHARS} characters")
    sources = [i.text for i in items if "grounding_source" in i.qualifiers]
    query = " ".join(i.text for i in items if "query" in i.qualifiers)
    context = GroundingContext("\n\n".join(sources), query) if sources else None
    guarded = [i for i in items if not ({"grounding_source", "query"} & set(i.qualifiers))]
    findings: list[Finding] = []
    outputs: list[str] = []
    blocked = masked = False
    for item in guarded:
        result = guardrail.assess(item.text, body.source, context)
        findings += result.findings
        outputs.append(result.text)
        blocked = blocked or result.blocked
        masked = masked or result.action is Action.ANONYMIZED
    intervened = blocked or masked
    if blocked:
        outputs = [guardrail.blocked_message(body.source)]
    elif not intervened and body.outputScope != "FULL":
        outputs = []
    return {
        "action": "GUARDRAIL_INTERVENED" if intervened else "NONE",
        "actionReason": _reason(findings, blocked, masked),
        "outputs": [{"text": t} for t in outputs],
        "assessments": assessments_of(findings),
        "usage": _usage(guardrail.config, items, body.source),
        "guardrailCoverage": {"textCharacters": {"guarded": sum(len(i.text) for i in guarded),
                                                 "total": sum(len(i.text) for i in items)}},
    }  # fmt: skip


def _reason(findings: list[Finding], blocked: bool, masked: bool) -> str:
    if blocked:
        return "Guardrail blocked."
    return "Guardrail masked." if masked else "No action."


def _usage(config: Any, items: list[_Text], source: Source) -> dict[str, int]:
    """Bedrock bills each policy in text units of 1,000 characters; reported the same way, for comparison."""
    units = sum(-(-len(i.text) // 1000) for i in items)
    info = config.sensitive_information
    return {
        "topicPolicyUnits": units if config.topics else 0,
        "contentPolicyUnits": units if config.content else 0,
        "wordPolicyUnits": units if config.words else 0,
        "sensitiveInformationPolicyUnits": units if info and (info.entities or info.regexes) else 0,
        "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": units if config.grounding and source == "OUTPUT" else 0,
    }


def build_router(registry: Guardrails, authorize: Authorize) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/guardrails/{guardrail_id}/versions/{version}/apply")
    async def apply_guardrail(guardrail_id: str, version: str, request: Request) -> dict[str, Any]:
        await authorize(request)
        return await apply_body(registry, guardrail_id, version, await read_body(request, MAX_BODY_BYTES))

    return router


async def apply_body(registry: Guardrails, guardrail_id: str, version: str, raw: bytes) -> dict[str, Any]:
    """An ApplyGuardrail body checked by the guardrail `guardrail_id:version`: this route's and the Bedrock
    dialect's (POST /guardrail/{id}/version/{version}/apply) answer."""
    body = _parse(raw)
    guardrail = await registry.find(guardrail_id, version)  # also one another replica defined
    if guardrail is None:  # 404 before any work
        raise NotFound(f"guardrail {guardrail_id} version {version} not found")
    started = time.perf_counter()
    # Detectors are CPU work (and the embedding model a lot of it): off the event loop.
    out = await run_in_threadpool(apply, guardrail, body)
    out["latencyMs"] = round((time.perf_counter() - started) * 1000, 3)
    return out
