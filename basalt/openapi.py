"""The OpenAPI document, completed for what FastAPI cannot see.

The routes read their bodies themselves (for speed, for bounded reads, and for errors in the caller's dialect), so
FastAPI's generated document knows neither what they take nor what they answer. This module declares, per
operation, the request body (the pydantic model the route parses), the query parameters it reads, its success
response and every error status with the error shape of its dialect. Clients and the fuzzing suite
(tests/test_fuzz.py) drive every route from the document; a route that answers something not declared here fails it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

Dialect = Literal["anthropic", "openai", "either", "bedrock"]
Schema = dict[str, Any]
REF = "#/components/schemas/{model}"

# Statuses any route can answer: a bad request, no or a wrong key, a key without the scope, a body too large, late
# or of the wrong type, a rate limit, the database or ledger out of reach (overloaded: 529, or 503 where OpenAI's SDK
# reads it). A generation route adds the budget and the upstream's failures (a redirect, a timeout).
COMMON = (400, 401, 403, 404, 405, 408, 413, 415, 421, 429, 529)
GENERATION = (*COMMON, 402, 502, 504)
# Bedrock's statuses for the same (dialects/errors.py): no or a wrong key is AccessDenied (403), a budget
# ServiceQuotaExceeded (400), an overload ServiceUnavailable (503), an upstream's timeout ModelTimeout (408).
BEDROCK = (400, 403, 404, 405, 408, 413, 415, 421, 429, 503)
BEDROCK_GENERATION = (*BEDROCK, 502)
EVENTSTREAM = "application/vnd.amazon.eventstream"

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_OBJECT = {"type": "object"}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


_ANTHROPIC_ERROR = _object(
    {"type": {"const": "error"}, "error": _object({"type": _STRING, "message": _STRING})},
    {"request_id": _STRING},
)
ERRORS: dict[Dialect, Schema] = {
    "anthropic": _ANTHROPIC_ERROR,
    "openai": _object(
        {"error": _object({"message": _STRING, "type": _STRING, "param": _NULLABLE_STRING, "code": _NULLABLE_STRING})}
    ),
    "either": _ANTHROPIC_ERROR,  # Anthropic's shape; its `error` also carries OpenAI's `param` and `code`
    "bedrock": _object({"message": _STRING}),  # the exception's name is in the x-amzn-ErrorType header
}

_USAGE = _object({"input_tokens": _INT, "output_tokens": _INT})
MESSAGE = _object(
    {
        "id": _STRING,
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "content": {"type": "array", "items": _object({"type": _STRING})},
        "model": _STRING,
        "stop_reason": _NULLABLE_STRING,
        "usage": _USAGE,
    }
)
CHAT_COMPLETION = _object(
    {
        "id": _STRING,
        "object": {"const": "chat.completion"},
        "created": _INT,
        "model": _STRING,
        "choices": {"type": "array", "items": _object({"index": _INT, "message": _OBJECT})},
    },
    {"usage": _object({"prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT})},
)
TEXT_COMPLETION = _object(
    {
        "id": _STRING,
        "object": {"const": "text_completion"},
        "created": _INT,
        "model": _STRING,
        "choices": {"type": "array", "items": _object({"index": _INT, "text": _STRING, "logprobs": {}})},
    },
    {"usage": _object({"prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT})},
)
TOKENS = _object({"tokens": {"type": "array", "items": _INT}, "count": _INT, "max_model_len": _INT})
MODEL = _object({"id": _STRING, "type": {"const": "model"}, "display_name": _STRING, "created_at": _STRING})
MODEL_LIST = _object(
    {
        "data": {"type": "array", "items": MODEL},
        "first_id": _NULLABLE_STRING,
        "last_id": _NULLABLE_STRING,
        "has_more": {"type": "boolean"},
    }
)
_LIMITS = {"type": "object"}
PROJECT = _object({"id": _STRING, "org_id": _STRING, "name": _STRING, "created_at": {}, "limits": _LIMITS})
KEY = _object(
    {"id": _STRING, "name": _STRING, "hint": _STRING, "admin": {"type": "boolean"}, "limits": _LIMITS},
    {"project_id": _NULLABLE_STRING, "key": _STRING, "aws_access_key_id": _STRING, "aws_secret_access_key": _STRING},
)
ACCESS_KEY_PAIR = _object({"key_id": _STRING, "aws_access_key_id": _STRING, "aws_secret_access_key": _STRING})
GUARDRAIL = _object({"name": _STRING, "version": {}})
APPLIED = _object(
    {"action": {"enum": ["NONE", "GUARDRAIL_INTERVENED"]}, "outputs": {"type": "array"}, "assessments": {}}
)
# One server-sent event, as OpenAPI 3.1 reads a text/event-stream schema: its `event` name and its `data` text.
ANTHROPIC_EVENT = _object(
    {
        "event": {
            "enum": [
                "message_start", "content_block_start", "content_block_delta", "content_block_stop",
                "message_delta", "message_stop", "ping", "error",
            ]
        },
        "data": {"type": "string", "contentMediaType": "application/json"},
    }
)  # fmt: skip
OPENAI_EVENT = _object({"event": {"const": "message"}, "data": _STRING})  # data: a chunk's JSON, or [DONE]
FILE_OBJECT = _object(
    {
        "id": _STRING,
        "object": {"const": "file"},
        "bytes": _INT,
        "created_at": _INT,
        "filename": _STRING,
        "purpose": {"enum": ["batch", "batch_output", "evals"]},
    },
    {"status": _STRING},
)
FILE_LIST = _object(
    {"object": {"const": "list"}, "data": {"type": "array", "items": FILE_OBJECT}, "has_more": {"type": "boolean"}},
    {"first_id": _NULLABLE_STRING, "last_id": _NULLABLE_STRING},
)
FILE_DELETED = _object({"id": _STRING, "object": {"const": "file"}, "deleted": {"type": "boolean"}})
FILE_UPLOAD = _object(
    {
        "file": {"type": "string", "contentMediaType": "application/octet-stream"},
        "purpose": {"enum": ["batch", "evals"]},
    }
)
_NULLABLE_INT = {"type": ["integer", "null"]}
BATCH = _object(
    {
        "id": _STRING,
        "object": {"const": "batch"},
        "endpoint": _STRING,
        "input_file_id": _STRING,
        "completion_window": _STRING,
        "status": {
            "enum": [
                "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled",
            ]
        },
        "created_at": _INT,
        "request_counts": _object({"total": _INT, "completed": _INT, "failed": _INT}),
    },
    {
        "output_file_id": _NULLABLE_STRING,
        "error_file_id": _NULLABLE_STRING,
        "errors": {"type": ["object", "null"]},
        "metadata": {"type": ["object", "null"]},
        **{f"{name}_at": _NULLABLE_INT for name in (
            "in_progress", "expires", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled",
        )},
    },
)  # fmt: skip
BATCH_LIST = _object(
    {"object": {"const": "list"}, "data": {"type": "array", "items": BATCH}, "has_more": {"type": "boolean"}},
    {"first_id": _NULLABLE_STRING, "last_id": _NULLABLE_STRING},
)
_PAGE = _object({"object": {"const": "list"}, "data": {"type": "array"}, "has_more": {"type": "boolean"}},
                {"first_id": _NULLABLE_STRING, "last_id": _NULLABLE_STRING})  # fmt: skip
EVAL = _object({"id": _STRING, "object": {"const": "eval"}, "name": _STRING, "created_at": _INT,
                "data_source_config": _OBJECT, "testing_criteria": {"type": "array"}},
               {"metadata": {"type": ["object", "null"]}})  # fmt: skip
EVAL_RUN = _object(
    {"id": _STRING, "object": {"const": "eval.run"}, "eval_id": _STRING, "name": _STRING, "model": _STRING,
     "status": {"enum": ["queued", "in_progress", "completed", "canceled", "failed"]}, "created_at": _INT,
     "data_source": _OBJECT, "result_counts": _object({n: _INT for n in ("total", "errored", "failed", "passed")}),
     "per_testing_criteria_results": {"type": "array"}, "per_model_usage": {"type": "array"}},
    {"error": {"type": ["object", "null"]}, "metadata": {"type": ["object", "null"]}, "report_url": _STRING,
     "progress": _OBJECT},
)  # fmt: skip
EVAL_OUTPUT_ITEM = _object(
    {"id": _STRING, "object": {"const": "eval.run.output_item"}, "eval_id": _STRING, "run_id": _STRING,
     "datasource_item_id": _INT, "datasource_item": _OBJECT, "status": _STRING, "results": {"type": "array"},
     "created_at": _INT},
    {"sample": {"type": ["object", "null"]}},
)  # fmt: skip
EVALS_QUERY = {"after": "An id: the page after it.", "limit": "1 to 100 (20).", "order": "asc (default) or desc."}
FILES_QUERY = {
    "purpose": "Only files of this purpose (batch, batch_output).",
    "limit": "How many files, 1 to 10000 (default 10000).",
    "after": "A file id: the files after it in this order.",
    "order": "asc or desc (default) by creation time.",
}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
MESSAGE_BATCH = _object(
    {
        "id": _STRING,
        "type": {"const": "message_batch"},
        "processing_status": {"enum": ["in_progress", "canceling", "ended"]},
        "request_counts": _object(
            {name: _INT for name in ("processing", "succeeded", "errored", "canceled", "expired")}
        ),
        "created_at": _TIME,
        "expires_at": _TIME,
        "ended_at": _NULLABLE_TIME,
        "archived_at": _NULLABLE_TIME,
        "cancel_initiated_at": _NULLABLE_TIME,
        "results_url": _NULLABLE_STRING,
    }
)
MESSAGE_BATCH_LIST = _object(
    {
        "data": {"type": "array", "items": MESSAGE_BATCH},
        "first_id": _NULLABLE_STRING,
        "last_id": _NULLABLE_STRING,
        "has_more": {"type": "boolean"},
    }
)
DELETED_BATCH = _object({"id": _STRING, "type": {"const": "message_batch_deleted"}})
USAGE_REPORT = _object({"data": {"type": "array", "items": _OBJECT}}, {"group_by": {"type": "array"}})
CONVERSE = _object(
    {"output": _object({"message": _object({"role": _STRING, "content": {"type": "array"}})}),
     "stopReason": _STRING, "usage": _object({"inputTokens": _INT, "outputTokens": _INT, "totalTokens": _INT}),
     "metrics": _object({"latencyMs": _INT})}
)  # fmt: skip
BINARY = {"type": "string", "contentMediaType": EVENTSTREAM}


def _list_of(item: Schema) -> Schema:
    return _object({"data": {"type": "array", "items": item}})


USAGE_QUERY = {
    "group_by": "Comma-separated groups: day, month, project, key, model, deployment, status, batch.",
    "project": "A project id or name (tenants: only their own).",
    "key": "An API key id.",
    "model": "The model name as clients sent it.",
    "since": "Unix seconds or an ISO 8601 date or time.",
    "until": "Unix seconds or an ISO 8601 date or time.",
    "trace_id": "A W3C trace id (32 hexadecimal digits): only the calls of that trace.",
    "batch": "A batch id: only the calls of that batch's items.",
    "records": "Non-empty: the rows themselves, newest first, instead of a report.",
    "limit": "With records: how many rows, 1 to 10000.",
}


@dataclass(frozen=True)
class Operation:
    dialect: Dialect
    success: Schema
    status: int | tuple[int, ...] = 200
    body: type[BaseModel] | Schema | None = None
    errors: tuple[int, ...] = COMMON
    query: dict[str, str] = field(default_factory=dict)
    streams: bool = False  # also answers text/event-stream, when the body asks for a stream
    example: Schema | None = None
    media: str = "application/json"  # the success answer's content type
    body_media: str = "application/json"  # the request body's


def operations() -> dict[tuple[str, str], Operation]:
    """Every route's declaration, by (method, path template)."""
    from .canonical.types import MessagesRequest
    from .control.admin import LimitFields, NewKey, NewProject
    from .dialects.openai_batches import NewBatch
    from .dialects.tokenizer import DetokenizeBody, TokenizeBody
    from .evals.spec import EvalUpdate, NewEval, NewRun
    from .guard.api import ApplyBody
    from .wire.bedrock_types import ConverseBody
    from .wire.chat import ChatCompletionRequest
    from .wire.completions import CompletionRequest

    hello = [{"role": "user", "content": "Say hello."}]
    admin: Dialect = "anthropic"
    return {
        ("post", "/v1/messages"): Operation(
            "anthropic", MESSAGE, body=MessagesRequest, errors=GENERATION, streams=True,
            example={"model": "smollm2", "max_tokens": 8, "messages": hello},
        ),
        ("post", "/v1/messages/count_tokens"): Operation(
            "anthropic", _object({"input_tokens": _INT}), body=_count_tokens_body(MessagesRequest),
            example={"model": "smollm2", "messages": hello},
        ),
        ("get", "/v1/models"): Operation("either", MODEL_LIST),
        ("get", "/v1/models/{model_id}"): Operation("either", MODEL),
        ("post", "/v1/chat/completions"): Operation(
            "openai", CHAT_COMPLETION, body=ChatCompletionRequest, errors=GENERATION, streams=True,
            example={"model": "smollm2", "max_tokens": 8, "messages": hello},
        ),
        ("post", "/v1/completions"): Operation(
            "openai", TEXT_COMPLETION, body=CompletionRequest, errors=GENERATION, streams=True,
            example={"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 1, "echo": True,
                     "logprobs": 1},
        ),
        ("get", "/tokenizer_info"): Operation("anthropic", _object({"eos_token": _NULLABLE_STRING})),
        ("post", "/tokenize"): Operation("anthropic", TOKENS, body=TokenizeBody, example={"prompt": "Hello"}),
        ("post", "/detokenize"): Operation(
            "anthropic", _object({"prompt": _STRING}), body=DetokenizeBody, example={"tokens": [19556]}
        ),
        ("post", "/v1/files"): Operation(
            "openai", FILE_OBJECT, body=FILE_UPLOAD, body_media="multipart/form-data",
            example={"purpose": "batch", "file": "{}"},
        ),
        ("get", "/v1/files"): Operation("openai", FILE_LIST, query=FILES_QUERY),
        ("get", "/v1/files/{file_id}"): Operation("openai", FILE_OBJECT),
        ("get", "/v1/files/{file_id}/content"): Operation(
            "openai", {"type": "string"}, media="application/octet-stream"
        ),
        ("delete", "/v1/files/{file_id}"): Operation("openai", FILE_DELETED),
        ("post", "/v1/batches"): Operation(
            "openai", BATCH, body=NewBatch,
            example={"input_file_id": "file-0123456789abcdef01234567", "endpoint": "/v1/chat/completions",
                     "completion_window": "24h"},
        ),
        ("get", "/v1/batches"): Operation(
            "openai", BATCH_LIST, query={"after": "A batch id: the batches before it.", "limit": "1 to 100 (20)."}
        ),
        ("get", "/v1/batches/{batch_id}"): Operation("openai", BATCH),
        ("post", "/v1/batches/{batch_id}/cancel"): Operation("openai", BATCH),
        ("post", "/v1/messages/batches"): Operation(
            "anthropic", MESSAGE_BATCH, body=_batch_body(MessagesRequest), errors=COMMON,
            example={"requests": [{"custom_id": "q1", "params": {"model": "smollm2", "max_tokens": 8,
                                                                  "messages": hello}}]},
        ),
        ("get", "/v1/messages/batches"): Operation("anthropic", MESSAGE_BATCH_LIST, query=PAGE_QUERY),
        ("get", "/v1/messages/batches/{batch_id}"): Operation("anthropic", MESSAGE_BATCH),
        ("delete", "/v1/messages/batches/{batch_id}"): Operation("anthropic", DELETED_BATCH),
        ("post", "/v1/messages/batches/{batch_id}/cancel"): Operation("anthropic", MESSAGE_BATCH),
        ("get", "/v1/messages/batches/{batch_id}/results"): Operation(
            "anthropic", _STRING, media="application/binary"  # JSON lines, one result each
        ),
        **_evals(NewEval, EvalUpdate, NewRun),
        ("get", "/admin/guardrails"): Operation(admin, _list_of(GUARDRAIL)),
        ("post", "/admin/guardrails"): Operation(
            admin, GUARDRAIL, (201, 200), body=_OBJECT, errors=(*COMMON, 409),  # 200: the same definition again
            example={"name": "no-pii", "sensitive_information": {"entities": [{"type": "EMAIL", "action": "BLOCK"}]}},
        ),
        ("post", "/admin/guardrails/check"): Operation(  # the console's form: validates, defines nothing
            admin, _object({"valid": {"type": "boolean"}, "errors": {"type": "array"}}, {"definition": _OBJECT}),
            body=_OBJECT, example={"yaml": "name: no-pii\nsensitive_information:\n  entities: [{type: EMAIL}]\n"},
        ),
        ("get", "/admin/deployments"): Operation(admin, _list_of(_OBJECT)),  # health, cooldown, load, recent errors
        ("get", "/v1/whoami"): Operation(  # any valid key: what the console may show it
            "anthropic",
            _object({"auth": {"type": "boolean"}, "admin": {"type": "boolean"}, "endpoints": {"type": "array"}},
                    {"key": {"type": ["object", "null"]}, "project": {"type": ["object", "null"]}}),
        ),
        ("get", "/admin/projects"): Operation(admin, _list_of(PROJECT)),
        ("post", "/admin/projects"): Operation(admin, PROJECT, 201, body=NewProject, example={"name": "demo"}),
        ("get", "/admin/projects/{ref}"): Operation(admin, PROJECT),
        ("patch", "/admin/projects/{ref}"): Operation(admin, PROJECT, body=LimitFields, example={"rpm": 60}),
        ("get", "/admin/keys"): Operation(admin, _list_of(KEY), query={"project": "A project id or name."}),
        ("post", "/admin/keys"): Operation(admin, KEY, 201, body=NewKey, example={"name": "ci", "admin": True}),
        ("delete", "/admin/keys/{key_id}"): Operation(admin, KEY),
        ("post", "/admin/keys/{key_id}/revoke"): Operation(admin, KEY),
        ("post", "/admin/keys/{key_id}/aws-credentials"): Operation(admin, ACCESS_KEY_PAIR, 201),
        ("get", "/admin/keys/{key_id}/aws-credentials"): Operation(
            admin, _list_of(_object({"key_id": _STRING, "aws_access_key_id": _STRING}))
        ),
        ("get", "/admin/usage"): Operation(admin, USAGE_REPORT, query=USAGE_QUERY),
        ("get", "/v1/usage"): Operation("anthropic", USAGE_REPORT, query=USAGE_QUERY),
        ("post", "/v1/guardrails/{guardrail_id}/versions/{version}/apply"): Operation(
            "anthropic", APPLIED, body=ApplyBody,
            example={"source": "INPUT", "content": [{"text": {"text": "My email is a@b.example"}}]},
        ),
        ("get", "/health"): Operation("anthropic", _object({"status": {"const": "ok"}}), errors=(421,)),
        **_bedrock(ConverseBody, ApplyBody, hello),
    }  # fmt: skip


def _evals(
    new_eval: type[BaseModel], update: type[BaseModel], new_run: type[BaseModel]
) -> dict[tuple[str, str], Operation]:
    """The OpenAI Evals API (dialects/openai_evals.py)."""
    evals, runs = "/v1/evals", "/v1/evals/{eval_id}/runs"
    items = runs + "/{run_id}/output_items"
    criterion = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
                 "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
    deleted = _object({"object": _STRING, "deleted": {"type": "boolean"}})
    return {
        ("post", evals): Operation(
            "openai", EVAL, body=new_eval,
            example={"name": "qa", "data_source_config": {"type": "custom", "item_schema": {"type": "object"}},
                     "testing_criteria": [criterion]},
        ),
        ("get", evals): Operation("openai", _PAGE, query={**EVALS_QUERY, "order_by": "created_at or updated_at."}),
        ("get", evals + "/{eval_id}"): Operation("openai", EVAL),
        ("post", evals + "/{eval_id}"): Operation("openai", EVAL, body=update, example={"name": "renamed"}),
        ("delete", evals + "/{eval_id}"): Operation("openai", deleted),
        ("post", runs): Operation(
            "openai", EVAL_RUN, body=new_run,
            example={"data_source": {"type": "jsonl", "source": {"type": "file_content", "content": [
                {"item": {"answer": "4"}, "sample": {"output_text": "4"}}]}}},
        ),
        ("get", runs): Operation("openai", _PAGE, query={**EVALS_QUERY, "status": "queued, in_progress, ..."}),
        ("get", runs + "/{run_id}"): Operation("openai", EVAL_RUN),
        ("delete", runs + "/{run_id}"): Operation("openai", deleted),
        ("post", runs + "/{run_id}/cancel"): Operation("openai", EVAL_RUN),
        ("get", items): Operation("openai", _PAGE, query={**EVALS_QUERY, "status": "pass or fail."}),
        ("get", items + "/{output_item_id}"): Operation("openai", EVAL_OUTPUT_ITEM),
    }  # fmt: skip


def _bedrock(
    converse: type[BaseModel], apply: type[BaseModel], hello: list[Schema]
) -> dict[tuple[str, str], Operation]:
    """Bedrock Runtime's routes (dialects/bedrock.py): the model id is in the path."""
    example = {"messages": [{"role": "user", "content": [{"text": "Say hello."}]}], "inferenceConfig": {"maxTokens": 8}}
    invoke = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": hello}
    model = "/model/{model}"
    return {
        ("post", f"{model}/converse"): Operation(
            "bedrock", CONVERSE, body=converse, errors=BEDROCK_GENERATION, example=example
        ),
        ("post", f"{model}/converse-stream"): Operation(
            "bedrock", BINARY, body=converse, errors=BEDROCK_GENERATION, example=example, media=EVENTSTREAM
        ),
        ("post", f"{model}/invoke"): Operation(
            "bedrock", MESSAGE, body=_OBJECT, errors=BEDROCK_GENERATION, example=invoke
        ),
        ("post", f"{model}/invoke-with-response-stream"): Operation(
            "bedrock", BINARY, body=_OBJECT, errors=BEDROCK_GENERATION, example=invoke, media=EVENTSTREAM
        ),
        ("post", f"{model}/count-tokens"): Operation(
            "bedrock", _object({"inputTokens": _INT}), body=_OBJECT, errors=BEDROCK,
            example={"input": {"converse": example}},
        ),
        ("post", "/guardrail/{guardrail_id}/version/{version}/apply"): Operation(
            "bedrock", APPLIED, body=apply, errors=BEDROCK,
            example={"source": "INPUT", "content": [{"text": {"text": "My email is a@b.example"}}]},
        ),
    }  # fmt: skip


PAGE_QUERY = {
    "after_id": "The page of batches after (older than) this one.",
    "before_id": "The page of batches before (newer than) this one.",
    "limit": "Batches per page, 1 to 1000 (default 20).",
}


def _batch_body(model: type[BaseModel]) -> Schema:
    """A Message Batch: requests of a custom_id and the params of one Messages call."""
    request = model.model_json_schema(ref_template=REF)
    definitions = request.pop("$defs", {})
    entry = _object({"custom_id": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"}, "params": request})
    entry["additionalProperties"] = False
    return {
        "type": "object",
        "required": ["requests"],
        "properties": {"requests": {"type": "array", "items": entry, "minItems": 1, "maxItems": 100_000}},
        "additionalProperties": False,
        "$defs": definitions,  # hoisted into the document's components
    }


def _count_tokens_body(model: type[BaseModel]) -> Schema:
    """count_tokens takes a Messages body without max_tokens."""
    schema = model.model_json_schema(ref_template=REF)
    schema["required"] = [name for name in schema.get("required", []) if name != "max_tokens"]
    return schema


def complete(document: Schema) -> Schema:
    """Adds the declarations to FastAPI's generated document, in place, and returns it."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for (method, path), op in operations().items():
        entry = document["paths"].get(path, {}).get(method)
        if entry is None:
            raise KeyError(f"openapi.operations() declares {method.upper()} {path}, which no route serves")
        if op.body is not None:
            body = _hoist(op.body, components)
            media: Schema = {"schema": body}
            if op.example is not None:
                media["example"] = op.example
            entry["requestBody"] = {"required": True, "content": {op.body_media: media}}
        parameters = [p for p in entry.get("parameters", []) if p.get("in") != "query" or p["name"] not in op.query]
        # A path parameter the route reads from the raw path itself (Bedrock's model id) is not in its signature.
        named = {p["name"] for p in parameters if p.get("in") == "path"}
        parameters += [
            {"name": name, "in": "path", "required": True, "schema": _STRING}
            for name in re.findall(r"{(\w+)}", path)
            if name not in named
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": _STRING, "description": text}
            for name, text in op.query.items()
        ]
        if parameters:
            entry["parameters"] = parameters
        entry["responses"] = _responses(op)
    document["paths"]["/metrics"]["get"]["responses"] = {
        "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": _STRING}}},
        "421": {"description": _REASONS[421], "content": {"application/json": {"schema": _ANTHROPIC_ERROR}}},
    }
    return document


def _hoist(body: type[BaseModel] | Schema, components: Schema) -> Schema:
    schema = dict(body) if isinstance(body, dict) else body.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    return schema


def _responses(op: Operation) -> Schema:
    content: Schema = {op.media: {"schema": op.success}}
    if op.streams:
        event = OPENAI_EVENT if op.dialect == "openai" else ANTHROPIC_EVENT
        content["text/event-stream"] = {"schema": event}
    statuses = op.status if isinstance(op.status, tuple) else (op.status,)
    responses: Schema = {str(status): {"description": "Success", "content": content} for status in statuses}
    for status in op.errors:
        if status == 529 and op.dialect == "openai":  # OpenAI's SDKs read an overload as 503 (openai_status)
            status = 503
        responses[str(status)] = {
            "description": _REASONS.get(status, "Error"),
            "content": {"application/json": {"schema": ERRORS[op.dialect]}},
        }
    return responses


_REASONS = {
    400: "Invalid request (the message names the field)",
    401: "Missing or invalid API key",
    402: "Budget exhausted",
    403: "The key may not use this model or endpoint",
    404: "No such model or object",
    405: "Method not allowed (see the Allow header)",
    408: "The headers or body did not arrive in time",
    409: "Conflicts with what exists",
    413: "Request body too large",
    503: "Overloaded (OpenAI and Bedrock dialects)",
    415: "The body must be application/json",
    421: "Host not allowed (DNS rebinding protection)",
    429: "Rate limited (see retry-after)",
    502: "The upstream answered with a redirect or something unreadable",
    504: "The upstream did not answer in time",
    529: "Overloaded (Anthropic dialect)",
}
