"""A run's data source made into items and their sampling requests: inline items or an uploaded JSONL file, each
item checked against the eval's item_schema; each item's messages rendered from the template (or taken from the item)
into the canonical request the batch engine runs. All of it CPU work over up to `max_items` items: run it off the
event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from ..batches import NewItem
from ..canonical import parse_messages_request
from ..errors import BasaltError, InvalidRequest
from . import graders, template
from .spec import Completions, Message, SamplingParams

ENDPOINT = "chat.completions"  # the scope a sample is admitted under, as a single chat call would be


async def read_file(chunks: AsyncIterator[bytes], max_items: int) -> list[dict[str, Any]]:
    """The JSONL file's lines as {item, sample?}: a line is {"item": {...}} (with an optional "sample") or a bare
    object, which is the item. Blank lines are skipped; a bad line is a 400 naming its number."""
    data = bytearray()
    async for chunk in chunks:
        data += chunk
    return parse_lines(bytes(data), max_items)


def parse_lines(data: bytes, max_items: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise InvalidRequest(f"data_source.source: line {number} is not JSON", param="data_source") from None
        if not isinstance(value, dict):
            raise InvalidRequest(f"data_source.source: line {number} is not an object", param="data_source")
        if isinstance(value.get("item"), dict):
            sample = value.get("sample")
            found.append({"item": value["item"], "sample": sample if isinstance(sample, dict) else None})
        else:
            found.append({"item": value, "sample": None})
        if len(found) > max_items:
            raise InvalidRequest(f"data_source: a run may hold at most {max_items} items", param="data_source")
    return found


def check_schema(item_schema: dict[str, Any]) -> Any:
    """A validator of the item_schema, or a 400 if it is not a JSON schema (Draft 2020-12)."""
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(item_schema)
    except jsonschema.SchemaError as exc:
        raise InvalidRequest(
            f"item_schema is not a JSON schema: {exc.message[:200]}", param="data_source_config"
        ) from None
    return jsonschema.Draft202012Validator(item_schema)


def check_items(items: Sequence[dict[str, Any]], item_schema: dict[str, Any]) -> None:
    """Each item against the eval's item_schema (JSON Schema), the first misfit named. A schema whose $ref points
    elsewhere resolves nothing (nothing is fetched): the item is refused."""
    import jsonschema

    validator = check_schema(item_schema)
    for position, entry in enumerate(items):
        try:
            error = jsonschema.exceptions.best_match(validator.iter_errors(entry["item"]))
        except Exception as exc:  # an unresolvable $ref, say
            raise InvalidRequest(f"item_schema cannot check item {position}: {str(exc)[:200]}") from None
        if error is not None:
            raise InvalidRequest(
                f"data_source item {position} does not match the eval's item_schema: {error.message[:300]}",
                param="data_source",
            )


def sample_requests(source: Completions, items: Sequence[dict[str, Any]], max_tokens: int) -> list[NewItem]:
    """One batch item per data-source item: its custom_id is its position; a request that cannot be made (a
    template that renders nothing, a bad item_reference) is an errored item, like a bad batch line."""
    params = source.sampling_params or SamplingParams()
    return [_sample_item(source, position, entry, params, max_tokens) for position, entry in enumerate(items)]


def _sample_item(
    source: Completions, position: int, entry: dict[str, Any], params: SamplingParams, max_tokens: int
) -> NewItem:
    try:
        messages = _messages(source, entry)
        body: dict[str, Any] = {
            "model": source.model,
            "max_tokens": params.max_completion_tokens or max_tokens,
            **graders.conversation(messages, graders.scope(entry["item"], None))[1],
        }
        for name in ("temperature", "top_p", "seed"):
            value = getattr(params, name)
            if value is not None:
                body[name] = value
        return NewItem(str(position), ENDPOINT, parse_messages_request(body))
    except BasaltError as exc:
        return NewItem(str(position), ENDPOINT, None, exc)


def _messages(source: Completions, entry: dict[str, Any]) -> list[Message]:
    given = source.input_messages
    if given is None:
        raise InvalidRequest("data_source.input_messages is required to sample", param="data_source")
    if given.type == "template":
        return list(given.template)
    found = template.lookup(given.item_reference, {"item": entry["item"]})
    if not isinstance(found, list) or not found:
        raise InvalidRequest(f"{given.item_reference} is not a list of messages in this item")
    try:
        return [Message.model_validate(m) for m in found[:64]]
    except Exception:
        raise InvalidRequest(f"{given.item_reference} holds a message that is not {{role, content}}") from None


def sample_record(
    request: dict[str, Any] | None, message: dict[str, Any] | None, error: dict[str, Any] | None, model: str,
    params: SamplingParams, max_tokens: int,
) -> dict[str, Any]:  # fmt: skip
    """An output item's `sample`, as OpenAI's Sample type has it, from the item's request and its answer."""
    inputs = []
    if request is not None:
        if request.get("system"):
            inputs.append({"role": "system", "content": request["system"]})
        inputs += [{"role": m["role"], "content": _content_text(m["content"])} for m in request.get("messages", [])]
    usage = (message or {}).get("usage") or {}
    # Anthropic's input_tokens leave out cache reads; OpenAI's prompt_tokens count them (and say how many were cached).
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt, completion = int(usage.get("input_tokens", 0)) + cached, int(usage.get("output_tokens", 0))
    text = output_text(message)
    return {
        "input": inputs,
        "output": [] if message is None else [{"role": "assistant", "content": text}],
        "output_text": text,
        "finish_reason": _finish(message),
        "model": model,
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cached_tokens": cached,
        },
        "error": None if error is None else {"code": str(error.get("type", "error")), "message": error.get("message")},
        "temperature": params.temperature if params.temperature is not None else 1.0,
        "max_completion_tokens": params.max_completion_tokens or max_tokens,
        "top_p": params.top_p if params.top_p is not None else 1.0,
        "seed": params.seed if params.seed is not None else 0,
    }


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))


def output_text(message: dict[str, Any] | None) -> str:
    if message is None:
        return ""
    return "".join(b.get("text", "") for b in message.get("content", []) if b.get("type") == "text")


def _finish(message: dict[str, Any] | None) -> str:
    if message is None:
        return ""
    reason = message.get("stop_reason")
    return {"max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter"}.get(reason or "", "stop")


def sample_namespace(sample: dict[str, Any]) -> dict[str, Any]:
    """What `{{sample.*}}` sees: output_text, output_json (the text as JSON, when it is), choices, model."""
    text = sample.get("output_text", "")
    try:
        parsed = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        parsed = None
    choice = {"message": {"role": "assistant", "content": text}, "finish_reason": sample.get("finish_reason")}
    return {**sample, "output_text": text, "output_json": parsed, "choices": [choice]}
