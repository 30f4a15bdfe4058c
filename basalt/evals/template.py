"""`{{item.x}}` and `{{sample.output_text}}` in message templates and grader fields, as OpenAI's Evals render them.

A reference is a dotted path into the `item` or `sample` namespace; a string is put in as it is, any other value as
its JSON; a path that leads nowhere renders as the empty string (OpenAI's behaviour). Rendering is linear in the
template and bounded: the rendered text may not exceed MAX_RENDERED characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import InvalidRequest

MAX_RENDERED = 256 * 1024
_REF = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+){0,15})\s*\}\}")
NAMESPACES = ("item", "sample")


def references(template: str) -> list[str]:
    """The dotted paths a template refers to."""
    return [m.group(1) for m in _REF.finditer(template)]


def check(template: str, where: str) -> None:
    """A 400 for a reference outside the two namespaces (a typo found at create, not at every item)."""
    for path in references(template):
        if path.split(".", 1)[0] not in NAMESPACES:
            raise InvalidRequest(
                f"{where}: {{{{{path}}}}} names no namespace; references start with item. or sample.", param=where
            )


def lookup(path: str, scope: Mapping[str, Any]) -> Any:
    value: Any = scope
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def render(template: str, scope: Mapping[str, Any]) -> str:
    out = _REF.sub(lambda m: _text(lookup(m.group(1), scope)), template)
    if len(out) > MAX_RENDERED:
        raise InvalidRequest(f"a rendered template is longer than {MAX_RENDERED} characters")
    return out
