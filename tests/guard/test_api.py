from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from basalt.errors import BasaltError
from basalt.guard import (
    EntityFilter,
    GroundingPolicy,
    Guardrails,
    Resources,
    SensitiveInformationPolicy,
    WordPolicy,
    build_router,
)
from basalt.guard import GuardrailConfig as Config


def _app(registry: Guardrails, calls: list[str]) -> FastAPI:
    async def authorize(request: Request) -> None:
        calls.append(request.headers.get("x-api-key", ""))
        if request.headers.get("x-api-key") == "bad":
            raise BasaltError("no")

    app = FastAPI()
    app.include_router(build_router(registry, authorize))

    @app.exception_handler(BasaltError)
    async def on_error(request: Request, exc: BasaltError) -> JSONResponse:
        return JSONResponse({"type": "error", "error": {"type": exc.error_type, "message": exc.message}}, exc.status)

    return app


@pytest.fixture
def registry(resources: Resources) -> Guardrails:
    entities = [EntityFilter(type="EMAIL"), EntityFilter(type="US_SSN", action="BLOCK")]
    return Guardrails(
        [
            Config(name="support", version=1, sensitive_information=SensitiveInformationPolicy(entities=entities)),
            {"name": "support", "version": "DRAFT", "words": {"words": ["zeus"]}, "blocked_input_message": "No."},
        ],
        resources,
    )


async def _post(app: FastAPI, path: str, body: Any, key: str = "k") -> httpx2.Response:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(path, json=body, headers={"x-api-key": key})


def _content(*texts: str) -> list[dict[str, Any]]:
    return [{"text": {"text": t}} for t in texts]


@pytest.mark.anyio
async def test_apply_masks_blocks_and_passes(registry: Guardrails) -> None:
    calls: list[str] = []
    app = _app(registry, calls)
    path = "/v1/guardrails/support/versions/1/apply"
    masked = (await _post(app, path, {"source": "OUTPUT", "content": _content("mail a@b.io")})).json()
    assert masked["action"] == "GUARDRAIL_INTERVENED" and masked["outputs"] == [{"text": "mail {EMAIL}"}]
    assert masked["assessments"][0]["sensitiveInformationPolicy"]["piiEntities"][0]["type"] == "EMAIL"
    assert masked["usage"]["sensitiveInformationPolicyUnits"] == 1
    blocked = (await _post(app, path, {"source": "INPUT", "content": _content("ssn 123-45-6789")})).json()
    assert blocked["action"] == "GUARDRAIL_INTERVENED"
    assert blocked["outputs"] == [{"text": registry.get("support", 1).blocked_message("INPUT")}]
    clean = (await _post(app, path, {"source": "INPUT", "content": _content("hello")})).json()
    assert clean["action"] == "NONE" and clean["outputs"] == [] and clean["assessments"] == []
    draft = await _post(
        app, "/v1/guardrails/support/versions/DRAFT/apply", {"source": "INPUT", "content": _content("Zeus?")}
    )
    assert draft.json()["outputs"] == [{"text": "No."}]
    assert calls == ["k"] * 4


@pytest.mark.anyio
async def test_apply_errors(registry: Guardrails) -> None:
    app = _app(registry, [])
    missing = await _post(app, "/v1/guardrails/nope/versions/1/apply", {"source": "INPUT", "content": _content("x")})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    path = "/v1/guardrails/support/versions/1/apply"
    for body in (
        {"source": "SIDEWAYS", "content": _content("x")},
        {"source": "INPUT", "content": []},
        {"source": "INPUT"},
    ):
        bad = await _post(app, path, body)
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    denied = await _post(app, path, {"source": "INPUT", "content": _content("x")}, key="bad")
    assert denied.status_code == 500


@pytest.mark.anyio
async def test_apply_grounding_with_qualifiers(resources: Resources) -> None:
    registry = Guardrails(
        [Config(name="rag", version=1, grounding=GroundingPolicy(grounding_threshold=0.5))], resources
    )
    app = _app(registry, [])
    content = [
        {"text": {"text": "Check-in is from 3 pm; check-out is until 11 am.", "qualifiers": ["grounding_source"]}},
        {"text": {"text": "When is check-in?", "qualifiers": ["query"]}},
        {"text": {"text": "Check-in is from 8 am and breakfast costs 30 dollars.", "qualifiers": ["guard_content"]}},
    ]
    out = (await _post(app, "/v1/guardrails/rag/versions/1/apply", {"source": "OUTPUT", "content": content})).json()
    assert out["action"] == "GUARDRAIL_INTERVENED"
    assert out["assessments"][0]["contextualGroundingPolicy"]["filters"][0]["type"] == "GROUNDING"


def test_registry(resources: Resources) -> None:
    registry = Guardrails([], resources)
    registry.add({"name": "g", "version": 1, "words": WordPolicy(words=["a"]).model_dump()})
    assert ("g", 1) in registry and len(registry) == 1
    with pytest.raises(BasaltError):
        registry.add({"name": "g", "version": 1})
    registry.add({"name": "g", "version": 1}, replace=True)
    with pytest.raises(BasaltError):
        registry.add({"name": "g", "bogus": True})
    registry.remove("g", "1")
    with pytest.raises(BasaltError):
        registry.get("g", 1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
