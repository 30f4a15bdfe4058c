"""JSON Schema -> GBNF grammar, so constrained decoding can only produce instances that validate.

Every keyword that constrains instances is either enforced by the grammar or refused with a clear error: a schema
is never silently weakened. Annotation keywords (title, description, default, ...) are ignored. Optional object
properties are always generated, which keeps the grammar simple and the output valid.
"""

from __future__ import annotations

import json
from typing import Any

ANNOTATIONS = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
    "writeOnly", "strict", "discriminator",
}  # fmt: skip
SUPPORTED = {
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "properties", "required",
    "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum",
}  # fmt: skip

BASE_RULES = {
    "ws": '| " " | "\\n" [ \\t]{0,12}',
    "char": '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
    "string": '"\\"" char{0,512} "\\""',
    "integer": '"-"? ("0" | [1-9] [0-9]{0,17})',
    "number": '"-"? ("0" | [1-9] [0-9]{0,17}) ("." [0-9]{1,17})? ([eE] [-+]? [0-9]{1,3})?',
    "boolean": '"true" | "false"',
    "null": '"null"',
    "value": "object | array | string | number | boolean | null",
    "object": '"{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? ws "}"',
    "array": '"[" ws ( value ( "," ws value )* )? ws "]"',
}


class SchemaError(ValueError):
    pass


def schema_to_gbnf(schema: dict[str, Any] | bool) -> str:
    converter = _Converter(schema)
    root = converter.visit(schema, "root")
    rules = {"root": root, **converter.rules}
    needed = _reachable(rules, BASE_RULES)
    lines = [f"{name} ::= {body}" for name, body in rules.items()]
    lines += [f"{name} ::= {BASE_RULES[name]}" for name in BASE_RULES if name in needed]
    return "\n".join(lines) + "\n"


def _reachable(rules: dict[str, str], base: dict[str, str]) -> set[str]:
    import re

    seen: set[str] = set()
    todo = list(rules.values())
    while todo:
        for word in re.findall(r"(?<![\"\[\\])\b([a-z][a-z0-9-]*)\b", _strip_literals(todo.pop())):
            if word in base and word not in seen:
                seen.add(word)
                todo.append(base[word])
    return seen


def _strip_literals(body: str) -> str:
    import re

    return re.sub(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]', " ", body)


def _literal(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Converter:
    def __init__(self, root: dict[str, Any] | bool) -> None:
        self.root = root
        self.rules: dict[str, str] = {}
        self._refs: dict[str, str] = {}

    def _add(self, hint: str, body: str) -> str:
        name = "".join(c if c.isalnum() else "-" for c in hint.lower()).strip("-") or "r"
        base, n = name, 1
        while name in self.rules or name in BASE_RULES or name == "root":
            n += 1
            name = f"{base}-{n}"
        self.rules[name] = body
        return name

    def visit(self, schema: dict[str, Any] | bool, hint: str) -> str:
        """Return a grammar expression for instances of `schema`."""
        if schema is True or schema == {}:
            return "value"
        if schema is False:
            raise SchemaError(f"{hint}: the schema `false` admits no value")
        assert isinstance(schema, dict)
        unknown = set(schema) - SUPPORTED - ANNOTATIONS
        if unknown:
            raise SchemaError(f"{hint}: JSON Schema keyword(s) {sorted(unknown)} cannot be enforced")
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "const" in schema:
            return _literal(schema["const"])
        if "enum" in schema:
            return "(" + " | ".join(_literal(v) for v in schema["enum"]) + ")"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                parts = [self.visit(s, f"{hint}-{i}") for i, s in enumerate(schema[key])]
                return "(" + " | ".join(parts) + ")"
        if "allOf" in schema:
            if len(schema["allOf"]) != 1:
                raise SchemaError(f"{hint}: allOf with several schemas cannot be enforced")
            return self.visit(schema["allOf"][0], hint)
        kind = schema.get("type")
        if isinstance(kind, list):
            return "(" + " | ".join(self.visit({**schema, "type": k}, f"{hint}-{k}") for k in kind) + ")"
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else None
        if kind is None:
            return "value"
        method = getattr(self, f"_{kind}", None)
        if method is None:
            raise SchemaError(f"{hint}: unknown type {kind!r}")
        return str(method(schema, hint))

    def _ref(self, ref: str) -> str:
        if ref in self._refs:
            return self._refs[ref]
        if not ref.startswith("#/"):
            raise SchemaError(f"$ref {ref!r}: only local references (#/$defs/...) are supported")
        target: Any = self.root
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                raise SchemaError(f"$ref {ref!r} does not resolve")
            target = target[part]
        name = self._add(ref.rsplit("/", 1)[-1], "")
        self._refs[ref] = name
        self.rules[name] = self.visit(target, name)
        return name

    def _object(self, schema: dict[str, Any], hint: str) -> str:
        properties: dict[str, Any] = schema.get("properties") or {}
        missing = set(schema.get("required") or []) - set(properties)
        if missing:
            raise SchemaError(f"{hint}: required properties {sorted(missing)} have no schema in `properties`")
        if not properties:
            extra = schema.get("additionalProperties", True)
            if extra is False:
                return '"{" ws "}"'
            value = self.visit(extra if isinstance(extra, dict) else True, f"{hint}-value")
            pair = f'string ":" ws {value}'
            return self._add(hint, f'"{{" ws ( {pair} ( "," ws {pair} )* )? ws "}}"')
        pairs = []
        for key, sub in properties.items():
            value = self.visit(sub, f"{hint}-{key}")
            pairs.append(f'{_literal(key)} ":" ws {value}')
        body = '"{" ws ' + ' "," ws '.join(pairs) + ' ws "}"'
        return self._add(hint, body)

    def _array(self, schema: dict[str, Any], hint: str) -> str:
        item = self.visit(schema.get("items", True), f"{hint}-item")
        lo, hi = int(schema.get("minItems", 0)), schema.get("maxItems")
        if hi is not None and int(hi) < lo:
            raise SchemaError(f"{hint}: maxItems is below minItems")
        if hi == 0:
            return '"[" ws "]"'
        rest_hi = "" if hi is None else str(int(hi) - 1)
        rest = f'( "," ws {item} ){{{max(lo - 1, 0)},{rest_hi}}}'
        first = f"{item} {rest}"
        body = f'"[" ws {first} ws "]"' if lo > 0 else f'"[" ws ( {first} )? ws "]"'
        return self._add(hint, body)

    def _string(self, schema: dict[str, Any], hint: str) -> str:
        lo, hi = int(schema.get("minLength", 0)), schema.get("maxLength")
        if "minLength" not in schema and "maxLength" not in schema:
            return "string"
        upper = str(int(hi)) if hi is not None else ""
        return self._add(hint, f'"\\"" char{{{lo},{upper}}} "\\""')

    def _integer(self, schema: dict[str, Any], hint: str) -> str:
        lo, hi = _bounds(schema, integer=True, hint=hint)
        if lo is None and hi is None:
            return "integer"
        return self._add(hint, integer_range(lo, hi))

    def _number(self, schema: dict[str, Any], hint: str) -> str:
        lo, hi = _bounds(schema, integer=False, hint=hint)
        if lo is None and hi is None:
            return "number"
        if lo == 0 and hi is None:  # non-negative: the one real-valued bound we can state in a grammar
            return self._add(hint, '("0" | [1-9] [0-9]{0,17}) ("." [0-9]{1,17})?')
        raise SchemaError(f"{hint}: bounds on a number other than minimum 0 cannot be enforced; use an integer")

    def _boolean(self, schema: dict[str, Any], hint: str) -> str:
        return "boolean"

    def _null(self, schema: dict[str, Any], hint: str) -> str:
        return "null"


def _bounds(schema: dict[str, Any], *, integer: bool, hint: str) -> tuple[Any, Any]:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if "exclusiveMinimum" in schema:
        if not integer:
            raise SchemaError(f"{hint}: exclusiveMinimum on a number cannot be enforced")
        lo = schema["exclusiveMinimum"] + 1
    if "exclusiveMaximum" in schema:
        if not integer:
            raise SchemaError(f"{hint}: exclusiveMaximum on a number cannot be enforced")
        hi = schema["exclusiveMaximum"] - 1
    if integer:
        import math

        lo = None if lo is None else math.ceil(lo)
        hi = None if hi is None else math.floor(hi)
        if lo is not None and hi is not None and lo > hi:
            raise SchemaError(f"{hint}: no integer lies between minimum and maximum")
    return lo, hi


def integer_range(lo: int | None, hi: int | None) -> str:
    """A grammar expression for the decimal integers in [lo, hi] (either end may be open)."""
    parts: list[str] = []
    if lo is None or lo < 0:  # negative numbers: "-" and the magnitudes in [max(1, -hi), -lo]
        mag_lo = 1 if hi is None or hi >= 0 else -hi
        parts += ['"-" ' + p for p in _magnitudes(mag_lo, None if lo is None else -lo)]
    if hi is None or hi >= 0:
        parts += _magnitudes(max(lo or 0, 0), hi)
    return "(" + " | ".join(parts) + ")"


def _magnitudes(lo: int, hi: int | None) -> list[str]:
    """Patterns for the integers in [lo, hi], lo >= 0, without leading zeros; hi None means unbounded."""
    if hi is None:
        width = len(str(lo))
        return [*_range(lo, 10**width - 1), f"[1-9] [0-9]{{{width},18}}"]
    return _range(lo, hi) if lo <= hi else []


def _range(a: int, b: int) -> list[str]:
    sa, sb = str(a), str(b)
    if len(sa) < len(sb):
        return _range(a, 10 ** len(sa) - 1) + _range(10 ** len(sa), b)
    if a == b:
        return [f'"{sa}"']
    i = next(k for k in range(len(sa)) if sa[k] != sb[k])
    prefix, rest = sa[:i], len(sa) - i - 1
    tail_any = " [0-9]" * rest
    if sa[i + 1 :] == "0" * rest and sb[i + 1 :] == "9" * rest:
        return [_join(prefix, f"[{sa[i]}-{sb[i]}]" + tail_any)]
    pieces: list[str] = []
    start, end = int(sa[i]), int(sb[i])
    if sa[i + 1 :] != "0" * rest:
        pieces += _range(a, int(sa[: i + 1] + "9" * rest))
        start += 1
    tail: list[str] = []
    if sb[i + 1 :] != "9" * rest:
        tail = _range(int(sb[: i + 1] + "0" * rest), b)
        end -= 1
    if start <= end:
        pieces.append(_join(prefix, f"[{start}-{end}]" + tail_any))
    return pieces + tail


def _join(prefix: str, rest: str) -> str:
    return (f'"{prefix}" ' if prefix else "") + rest
