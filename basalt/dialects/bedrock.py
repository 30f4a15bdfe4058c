"""The Bedrock Runtime dialect: POST /model/{modelId}/converse, /converse-stream, /invoke,
/invoke-with-response-stream, /count-tokens, and /guardrail/{id}/version/{version}/apply, so boto3's
`bedrock-runtime` client and `anthropic.AnthropicBedrock` run on Basalt unchanged.

Bodies are decoded by the Bedrock codec (`wire/bedrock.py`) into a canonical request, answered by the flow like
every other call, and encoded back: Converse JSON, ConverseStream events or Anthropic chunks in the event-stream
framing (`wire/eventstream.py`). Errors are Bedrock's exceptions (the registry's BEDROCK dialect), mid-stream ones
exception frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from pydantic import ValidationError

from ..canonical import MessagesRequest, fold_events
from ..canonical.events import Event
from ..control import ControlPlane, Principal
from ..errors import BasaltError, InvalidRequest, NotFound
from ..flow import Call, CallOptions
from ..guard.api import MAX_BODY_BYTES, apply_body
from ..http.plumbing import CALL, EventStreamResponse, first_and_rest, read_body, request_id, unless_disconnected
from ..wire import sigv4
from ..wire.bedrock import ConverseBody, ConverseStreamWriter, guardrail_trace, to_converse_response
from ..wire.bedrock_types import GuardrailConfig, decoded_blob
from ..wire.eventstream import event_frame, exception_frame
from .anthropic import json_response
from .bedrock_invoke import ChunkEncoder, anthropic_request, invocation_headers, loads_object
from .calls import call_options
from .errors import CONVERSE_STREAM_ERRORS, INVOKE_STREAM_ERRORS, bedrock_stream_exception

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..wiring import Platform

EVENTSTREAM = b"application/vnd.amazon.eventstream"
MAX_MODEL_ID = 2048  # the service model's bound
# Cross-region inference profiles prefix a model id with a geography (`us.anthropic.claude-...`).
_GEOGRAPHIES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")


async def principal(control: ControlPlane, request: Request, body: bytes, endpoint: str) -> Principal:
    """Who calls: the one door for every Bedrock route. A Bedrock API key (`Authorization: Bearer`, as boto3 and
    AnthropicBedrock send AWS_BEARER_TOKEN_BEDROCK) is a Basalt key; SigV4-signed requests are verified here too
    (the body is passed for the payload hash). With auth off nothing is checked, signed or not."""
    headers = request.headers.items()
    if sigv4.is_signed(headers):
        path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
        query = request.scope.get("query_string", b"").decode("latin-1")
        return await control.authenticate_sigv4(request.method, path, query, headers, body, endpoint)
    return await control.authenticate(request.headers, endpoint)


def model_id(request: Request, operation: str) -> str:
    """The URL-decoded modelId of /model/{modelId}/{operation}, read from the raw path: an ARN's `/` arrives as
    %2F, and a decoded path could not tell it from a separator."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1").partition("?")[0]
    encoded = path.removeprefix("/model/").removesuffix("/" + operation)
    found = unquote(encoded)
    if not found or len(found) > MAX_MODEL_ID:
        raise InvalidRequest(f"modelId: must be 1 to {MAX_MODEL_ID} characters", param="modelId")
    return found


def catalog_name(catalog: Catalog, bedrock_id: str) -> str:
    """The configured model a Bedrock model id, inference-profile id or ARN names: the id itself, then an ARN's
    resource id, then that without a geography prefix; the first that the catalog (its aliases included) knows."""
    candidates = [bedrock_id]
    if bedrock_id.startswith("arn:"):
        candidates.append(bedrock_id.split(":", 5)[-1].rpartition("/")[2])
    last = candidates[-1]
    candidates += [last.removeprefix(g) for g in _GEOGRAPHIES if last.startswith(g)]
    for name in dict.fromkeys(candidates):
        try:
            catalog.resolve(name)
        except NotFound:
            continue
        return name
    raise NotFound(
        f"The model {bedrock_id!r} is not served here; an alias in Basalt's config maps a Bedrock model id to a "
        "configured model (e.g. `aliases: {anthropic.claude-3-5-haiku-20241022-v1:0: smollm2}`).",
        param="modelId",
    )


def guardrail_ref(config: GuardrailConfig) -> str:
    """A Converse guardrail (an id or a guardrail ARN, and a version) as a Basalt guardrail `name:version`."""
    name = config.guardrailIdentifier.rpartition(":guardrail/")[2] or config.guardrailIdentifier
    if not name:
        raise InvalidRequest("guardrailConfig.guardrailIdentifier: required", param="guardrailConfig")
    return f"{name}:{config.guardrailVersion or 'DRAFT'}"


def options_for(request: Request, config: GuardrailConfig | None) -> CallOptions:
    """The call's options: the `basalt-guardrail*` headers and traceparent, and the request's own guardrail."""
    options = call_options(request.headers)
    if config is None:
        return options
    trace = options.trace or config.trace in ("enabled", "enabled_full")
    return replace(options, guardrails=(*options.guardrails, guardrail_ref(config)), trace=trace)


def invoke_guardrail(request: Request) -> GuardrailConfig | None:
    """InvokeModel names its guardrail in headers (X-Amzn-Bedrock-GuardrailIdentifier / -Version / -Trace)."""
    identifier = request.headers.get("x-amzn-bedrock-guardrailidentifier")
    if not identifier:
        return None
    version = request.headers.get("x-amzn-bedrock-guardrailversion", "")
    trace = request.headers.get("x-amzn-bedrock-trace", "").lower()
    given = {"guardrailIdentifier": identifier, "guardrailVersion": version,
             "trace": "enabled" if trace in ("enabled", "enabled_full") else None}  # fmt: skip
    try:
        return GuardrailConfig.model_validate(given)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])  # guardrailIdentifier -> X-Amzn-Bedrock-GuardrailIdentifier
        where = "X-Amzn-Bedrock-" + field[:1].upper() + field[1:]
        raise InvalidRequest(f"{where}: {exc.errors()[0]['msg']}", param=where) from None


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    limit = platform.settings.max_body_bytes
    control, flow, catalog = platform.control, platform.flow, platform.catalog

    async def start(request: Request, operation: str, endpoint: str) -> tuple[Principal, bytes, str, str]:
        raw = await read_body(request, limit)
        who = await principal(control, request, raw, endpoint)
        asked = model_id(request, operation)
        return who, raw, asked, catalog_name(catalog, asked)

    async def converse_call(request: Request, stream: bool) -> tuple[Call, ConverseBody]:
        who, raw, _, name = await start(request, "converse-stream" if stream else "converse", "messages")
        body = ConverseBody.parse(raw)
        options = options_for(request, body.guardrailConfig)
        call = Call(who, body.canonical(name, stream), "messages", request_id(request), options, "bedrock")
        request.scope[CALL] = call  # for the HTTP edge's access log and request metrics
        return call, body

    @router.post("/model/{model:path}/converse")
    async def converse(request: Request) -> Any:
        call, body = await converse_call(request, stream=False)
        events = await first_and_rest(await flow.answer(call))
        message = await unless_disconnected(request, fold_events(events))
        named = body.guardrailConfig.guardrailIdentifier if body.guardrailConfig else None
        trace = guardrail_trace(message.get("guardrail"), named, refused_on_input(call)) if named else None
        latency = round((time.monotonic() - call.timings.accepted) * 1000)
        answer = to_converse_response(message, latency, intervened(call)(), trace)
        return json_response(answer, headers=aws_request_id(request))

    @router.post("/model/{model:path}/converse-stream")
    async def converse_stream(request: Request) -> Any:
        call, body = await converse_call(request, stream=True)
        events = await first_and_rest(await flow.answer(call))
        named = body.guardrailConfig.guardrailIdentifier if body.guardrailConfig else None
        writer = ConverseStreamWriter(call.timings.accepted, named, intervened(call), lambda: refused_on_input(call))

        def encode(event: Event) -> bytes:
            return b"".join(event_frame(kind, payload) for kind, payload in writer.encode(event, time.monotonic()))

        fail = stream_failure(CONVERSE_STREAM_ERRORS)
        return EventStreamResponse(events, encode, fail, aws_request_id(request), media_type=EVENTSTREAM)

    async def invoke_call(request: Request, stream: bool) -> tuple[Call, str]:
        operation = "invoke-with-response-stream" if stream else "invoke"
        who, raw, asked, name = await start(request, operation, "messages")
        canonical = anthropic_request(loads_object(raw), name, stream)
        options = options_for(request, invoke_guardrail(request))
        call = Call(who, canonical, "messages", request_id(request), options, "bedrock")
        request.scope[CALL] = call
        return call, asked

    @router.post("/model/{model:path}/invoke")
    async def invoke(request: Request) -> Any:
        call, asked = await invoke_call(request, stream=False)
        events = await first_and_rest(await flow.answer(call))
        message = await unless_disconnected(request, fold_events(events))
        latency = round((time.monotonic() - call.timings.accepted) * 1000)
        headers = {**invocation_headers(message.get("usage") or {}, latency), **aws_request_id(request)}
        return json_response({**message, "model": asked}, headers=headers)

    @router.post("/model/{model:path}/invoke-with-response-stream")
    async def invoke_stream(request: Request) -> Any:
        call, asked = await invoke_call(request, stream=True)
        events = await first_and_rest(await flow.answer(call))
        chunks = ChunkEncoder(asked, call.timings.accepted)
        headers = {"x-amzn-bedrock-content-type": "application/json", **aws_request_id(request)}
        fail = stream_failure(INVOKE_STREAM_ERRORS)
        return EventStreamResponse(events, chunks.encode, fail, headers, media_type=EVENTSTREAM)

    @router.post("/model/{model:path}/count-tokens")
    async def count_tokens(request: Request) -> Any:
        who, raw, _, name = await start(request, "count-tokens", "count_tokens")
        call = Call(who, count_tokens_request(raw, name), "count_tokens", request_id(request), dialect="bedrock")
        request.scope[CALL] = call
        return json_response({"inputTokens": await flow.count_tokens(call)}, headers=aws_request_id(request))

    @router.post("/guardrail/{guardrail_id:path}/version/{version}/apply")  # an ARN's `/` arrives decoded
    async def apply_guardrail(guardrail_id: str, version: str, request: Request) -> Any:
        raw = await read_body(request, MAX_BODY_BYTES)
        await principal(control, request, raw, "guardrails")
        name = guardrail_id.rpartition(":guardrail/")[2] or guardrail_id
        return json_response(await apply_body(platform.guardrails, name, version, raw), headers=aws_request_id(request))

    return router


def intervened(call: Call) -> Callable[[], bool]:
    """Whether a guardrail intervened in the call, asked when its answer ends."""
    return lambda: call.guardrail_action == "INTERVENED"


def aws_request_id(request: Request) -> dict[str, str]:
    """Basalt's request id where botocore reads it into ResponseMetadata.RequestId."""
    return {"x-amzn-requestid": request_id(request)}


def refused_on_input(call: Call) -> bool:
    """A guardrail refused the request itself: no model was tried."""
    return call.guardrail_action == "INTERVENED" and not call.attempts


def stream_failure(members: frozenset[str]) -> Callable[[BasaltError], bytes]:
    def fail(error: BasaltError) -> bytes:
        return exception_frame(bedrock_stream_exception(error, members), error.message)

    return fail


def count_tokens_request(raw: bytes, model: str) -> MessagesRequest:
    """CountTokens' input: a Converse body (`converse`) or an InvokeModel body (`invokeModel.body`, base64)."""
    data = loads_object(raw)
    given = data.get("input")
    if set(data) != {"input"} or not isinstance(given, dict) or len(given) != 1:
        raise InvalidRequest("input: exactly one of input.converse and input.invokeModel is required", param="input")
    kind, value = next(iter(given.items()))
    if kind == "converse" and isinstance(value, dict):
        return ConverseBody.parse(value).canonical(model, stream=False)
    if kind == "invokeModel" and isinstance(value, dict) and isinstance(value.get("body"), str) and len(value) == 1:
        return anthropic_request(loads_object(decoded_blob(value["body"], "input.invokeModel.body")), model, False)
    raise InvalidRequest(f"input.{kind}: not a CountTokens input (converse or invokeModel.body)", param="input")
