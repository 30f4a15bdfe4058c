"""JSON Schema -> GBNF grammar, so constrained decoding can only produce instances that validate.

Every keyword that constrains instances is either enforced by the grammar or refused with a clear error: a schema
is never silently weakened. Annotation keywords (title, description, default, ...) are ignored. Optional object
properties are always generated, which keeps the grammar simple and the output valid.

A schema is hostile input: every keyword is type-checked, and every count that becomes a repetition in the grammar
is bounded, because llama.cpp expands repetitions when it parses a grammar (a `{19,18}` once made it allocate until
the kernel killed the server). Upper bounds beyond what a grammar may hold are tightened to it (an integer to
MAX_INTEGER, a length or item count to MAX_REPEAT): every instance it admits still validates. Lower bounds beyond
it are refused. The finished grammar is checked once more (`check_grammar`) before llama.cpp sees it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
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
TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")
IMPLIED_TYPES = {
    "object": {"properties", "required", "additionalProperties"},
    "array": {"items", "minItems", "maxItems"},
    "string": {"minLength", "maxLength"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
}

MAX_INTEGER = 10**18 - 1  # the largest magnitude the integer rules write: 18 digits, within int64
MAX_REPEAT = 2000  # the largest count of one repetition (llama.cpp's own MAX_REPETITION_THRESHOLD is 2000)
MAX_TOTAL_REPEAT = 50_000  # repetition counts summed over the grammar: llama.cpp makes a rule or copy for each
MAX_GRAMMAR_CHARS = 512 * 1024
MAX_DEPTH = 64  # nested subschemas
MAX_CHOICES = 1000  # values of one enum, branches of one anyOf/oneOf, properties of one object

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

Path = tuple[str | int, ...]


class SchemaError(ValueError):
    """A schema that cannot be enforced; `path` is the JSON pointer of the offending part, `reason` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"at {pointer(path)}: {reason}")


def pointer(path: Path) -> str:
    """The JSON pointer of `path`, its middle elided when it is long."""
    parts = ["#", *(str(p).replace("~", "~0").replace("/", "~1") for p in path)]
    return "/".join(parts if len(parts) <= 12 else [*parts[:5], "...", *parts[-5:]])


def schema_to_gbnf(schema: object) -> str:
    """The grammar of the instances of `schema`, with `root` as its start rule."""
    grammar = _Grammar()
    return grammar.text(_Converter(grammar, schema).visit(schema, (), 0))


def choice_to_gbnf(key: str, named: Sequence[tuple[str, object]]) -> str:
    """The grammar of `{"name": <one of the names>, key: <an instance of that name's schema>}`: a call of one of
    several tools. Each schema is its own root, for its `$ref`s; a SchemaError's path starts with the name."""
    grammar = _Grammar()
    branches = []
    for name, schema in named:
        try:
            body = _Converter(grammar, schema).visit(schema, (), 1)
        except SchemaError as exc:
            raise SchemaError((name, *exc.path), exc.reason) from None
        branches.append(
            f'"{{" ws "\\"name\\"" ":" ws {_literal(name, ())} "," ws {_literal(key, ())} ":" ws {body} ws "}}"'
        )
    return grammar.text("(" + " | ".join(branches) + ")")


def check_grammar(text: str) -> None:
    """Refuse a grammar llama.cpp would take long or much memory to parse: too long, or with a repetition that
    is inverted ({m,n} with m > n), too large, or too many in all."""
    if len(text) > MAX_GRAMMAR_CHARS:
        raise SchemaError((), f"its grammar would be {len(text):,} characters, above the {MAX_GRAMMAR_CHARS:,} allowed")
    total = 0
    for low, comma, high in re.findall(r"\{(\d+)(,?)(\d*)\}", _strip_literals(text)):
        lo = int(low)
        hi = int(high) if high else (lo if not comma else None)
        if (hi is not None and hi < lo) or max(lo, hi or 0) > MAX_REPEAT:
            raise SchemaError((), f"its grammar would have a repetition {{{low}{comma}{high}}}")
        total += max(lo, hi or 1)
    if total > MAX_TOTAL_REPEAT:
        raise SchemaError(
            (), f"its grammar would repeat {total:,} times in all, above the {MAX_TOTAL_REPEAT:,} allowed"
        )


class _Grammar:
    """The rules of one grammar, named uniquely and shared by the schemas compiled into it."""

    def __init__(self) -> None:
        self.rules: dict[str, str] = {}
        self._names: Counter[str] = Counter()

    def add(self, path: Path, body: str) -> str:
        hint = "-".join(str(p) for p in path[-2:]) or "r"
        base = "".join(c if c.isascii() and c.isalnum() else "-" for c in hint.lower()).strip("-")[:40] or "r"
        while True:
            self._names[base] += 1
            n = self._names[base]
            name = base if n == 1 else f"{base}-{n}"
            if name not in self.rules and name not in BASE_RULES and name != "root":
                break
        self.rules[name] = body
        return name

    def text(self, root: str) -> str:
        rules = {"root": root, **self.rules}
        needed = _reachable(rules, BASE_RULES)
        lines = [f"{name} ::= {body}" for name, body in rules.items()]
        lines += [f"{name} ::= {BASE_RULES[name]}" for name in BASE_RULES if name in needed]
        text = "\n".join(lines) + "\n"
        check_grammar(text)
        return text


def _reachable(rules: dict[str, str], base: dict[str, str]) -> set[str]:
    seen: set[str] = set()
    todo = list(rules.values())
    while todo:
        for word in re.findall(r"(?<![\"\[\\])\b([a-z][a-z0-9-]*)\b", _strip_literals(todo.pop())):
            if word in base and word not in seen:
                seen.add(word)
                todo.append(base[word])
    return seen


def _strip_literals(body: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]', " ", body)


def _literal(value: Any, path: Path) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise SchemaError(path, f"the value cannot be written as JSON ({exc.__class__.__name__})") from None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Converter:
    def __init__(self, grammar: _Grammar, root: object) -> None:
        self.grammar = grammar
        self.root = root
        self._refs: dict[str, str] = {}
        # $refs being compiled, with the number of objects and arrays entered when each began: meeting one again
        # with no object or array in between would be a left-recursive rule, which admits no finite value.
        self._open: dict[str, int] = {}
        self._containers = 0

    def visit(self, schema: object, path: Path, depth: int) -> str:
        """Return a grammar expression for instances of `schema`."""
        if depth > MAX_DEPTH:
            raise SchemaError(path, f"schemas nested more than {MAX_DEPTH} deep cannot be enforced")
        if schema is True or schema == {}:
            return "value"
        if schema is False:
            raise SchemaError(path, "the schema `false` admits no value")
        if not isinstance(schema, dict):
            raise SchemaError(path, f"a schema must be an object or a boolean, not {_kind(schema)}")
        unknown = set(schema) - SUPPORTED - ANNOTATIONS
        if unknown:
            raise SchemaError(path, f"JSON Schema keyword(s) {sorted(unknown)} cannot be enforced")
        _refuse_siblings(schema, path)
        if "$ref" in schema:
            return self._ref(schema["$ref"], path, depth)
        if "const" in schema:
            return _literal(schema["const"], (*path, "const"))
        if "enum" in schema:
            values = _list(schema, "enum", path)
            return "(" + " | ".join(_literal(v, (*path, "enum", i)) for i, v in enumerate(values)) + ")"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = _list(schema, key, path)
                parts = [self.visit(s, (*path, key, i), depth + 1) for i, s in enumerate(branches)]
                return "(" + " | ".join(parts) + ")"
        if "allOf" in schema:
            if len(_list(schema, "allOf", path)) != 1:
                raise SchemaError((*path, "allOf"), "allOf with several schemas cannot be enforced")
            return self.visit(schema["allOf"][0], (*path, "allOf", 0), depth + 1)
        return self._typed(schema, path, depth)

    def _typed(self, schema: dict[str, Any], path: Path, depth: int) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            if not kind or not all(k in TYPES for k in kind) or len(set(kind)) != len(kind):
                raise SchemaError((*path, "type"), f"a list of types must name distinct types of {', '.join(TYPES)}")
            return "(" + " | ".join(self._typed({**schema, "type": k}, path, depth) for k in kind) + ")"
        if kind is None:  # the type its keywords imply: a narrower grammar, whose instances all validate
            kind = next((k for k, words in IMPLIED_TYPES.items() if words & schema.keys()), None)
        if kind is None:
            return "value"
        if kind not in TYPES:
            raise SchemaError((*path, "type"), f"unknown type {_short(kind)}; expected one of {', '.join(TYPES)}")
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "string":
            return self._string(schema, path)
        if kind == "integer":
            lo, hi = _integer_bounds(schema, path)
            return (
                "integer" if (lo, hi) == (-MAX_INTEGER, MAX_INTEGER) else self.grammar.add(path, integer_range(lo, hi))
            )
        if kind == "number":
            return self._number(schema, path)
        return str(kind)  # boolean, null: base rules of the same name

    def _ref(self, ref: object, path: Path, depth: int) -> str:
        if not isinstance(ref, str):
            raise SchemaError((*path, "$ref"), f"$ref must be a string, not {_kind(ref)}")
        if ref in self._open and self._open[ref] == self._containers:
            raise SchemaError(
                (*path, "$ref"), f"$ref {_short(ref)} refers back to itself with no object or array between"
            )
        if ref in self._refs:
            return self._refs[ref]
        if not ref.startswith("#/"):
            raise SchemaError((*path, "$ref"), f"$ref {_short(ref)}: only local references (#/$defs/...) are supported")
        target: Any = self.root
        where: Path = ()
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target, where = target[part], (*where, part)
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target, where = target[int(part)], (*where, int(part))
            else:
                raise SchemaError((*path, "$ref"), f"$ref {_short(ref)} does not resolve")
        name = self.grammar.add(("ref", ref.rsplit("/", 1)[-1]), "")
        self._refs[ref] = name
        self._open[ref] = self._containers
        try:
            self.grammar.rules[name] = self.visit(target, where, depth + 1)
        finally:
            del self._open[ref]
        return name

    def _object(self, schema: dict[str, Any], path: Path, depth: int) -> str:
        properties = schema.get("properties") or {}
        if not isinstance(properties, dict):
            raise SchemaError((*path, "properties"), f"properties must be an object, not {_kind(properties)}")
        if len(properties) > MAX_CHOICES:
            raise SchemaError((*path, "properties"), f"more than {MAX_CHOICES} properties cannot be enforced")
        required = schema.get("required") or []
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError((*path, "required"), "required must be a list of property names")
        missing = set(required) - set(properties)
        if missing:
            raise SchemaError(path, f"required properties {sorted(missing)} have no schema in `properties`")
        self._containers += 1
        try:
            if not properties:
                return self._map(schema.get("additionalProperties", True), path, depth)
            pairs = []
            for key, sub in properties.items():
                value = self.visit(sub, (*path, "properties", key), depth + 1)
                pairs.append(f'{_literal(key, path)} ":" ws {value}')
        finally:
            self._containers -= 1
        return self.grammar.add(path, '"{" ws ' + ' "," ws '.join(pairs) + ' ws "}"')

    def _map(self, extra: object, path: Path, depth: int) -> str:
        """An object with no named properties: any keys, each value an instance of additionalProperties."""
        if extra is False:
            return '"{" ws "}"'
        if not isinstance(extra, (dict, bool)):
            raise SchemaError((*path, "additionalProperties"), f"must be a schema or a boolean, not {_kind(extra)}")
        value = self.visit(extra, (*path, "additionalProperties"), depth + 1)
        pair = f'string ":" ws {value}'
        return self.grammar.add(path, f'"{{" ws ( {pair} ( "," ws {pair} )* )? ws "}}"')

    def _array(self, schema: dict[str, Any], path: Path, depth: int) -> str:
        items = schema.get("items", True)
        if isinstance(items, list):
            raise SchemaError((*path, "items"), "items as a list (one schema per position) cannot be enforced")
        lo, hi = _counts(schema, "minItems", "maxItems", path)
        if hi == 0:
            return '"[" ws "]"'
        self._containers += 1
        try:
            item = self.visit(items, (*path, "items"), depth + 1)
        finally:
            self._containers -= 1
        rest_hi = "" if hi is None else str(hi - 1)
        rest = f'( "," ws {item} ){{{max(lo - 1, 0)},{rest_hi}}}'
        first = f"{item} {rest}"
        body = f'"[" ws {first} ws "]"' if lo > 0 else f'"[" ws ( {first} )? ws "]"'
        return self.grammar.add(path, body)

    def _string(self, schema: dict[str, Any], path: Path) -> str:
        if "minLength" not in schema and "maxLength" not in schema:
            return "string"
        lo, hi = _counts(schema, "minLength", "maxLength", path)
        upper = "" if hi is None else str(hi)
        return self.grammar.add(path, f'"\\"" char{{{lo},{upper}}} "\\""')

    def _number(self, schema: dict[str, Any], path: Path) -> str:
        for key in ("exclusiveMinimum", "exclusiveMaximum", "maximum"):
            if key in schema:
                raise SchemaError((*path, key), f"{key} on a number cannot be enforced; use an integer")
        if "minimum" not in schema:
            return "number"
        if _bound(schema, "minimum", path) != 0:  # non-negative: the one real-valued bound a grammar can state
            raise SchemaError(
                (*path, "minimum"), "a minimum other than 0 on a number cannot be enforced; use an integer"
            )
        return self.grammar.add(path, '("0" | [1-9] [0-9]{0,17}) ("." [0-9]{1,17})?')


def _kind(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _short(value: object) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _list(schema: dict[str, Any], key: str, path: Path) -> list[Any]:
    value = schema[key]
    if not isinstance(value, list) or not value:
        raise SchemaError((*path, key), f"{key} must be a non-empty list")
    if len(value) > MAX_CHOICES:
        raise SchemaError((*path, key), f"{key} with more than {MAX_CHOICES} entries cannot be enforced")
    return value


def _bound(schema: dict[str, Any], key: str, path: Path) -> int | float:
    value = schema[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SchemaError((*path, key), f"{key} must be a finite number, not {_short(value)}")
    return value


def _count(schema: dict[str, Any], key: str, path: Path) -> int | None:
    if key not in schema:
        return None
    value = schema[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError((*path, key), f"{key} must be a non-negative integer, not {_short(value)}")
    return value


def _counts(schema: dict[str, Any], low: str, high: str, path: Path) -> tuple[int, int | None]:
    """minLength/maxLength or minItems/maxItems, checked; the maximum tightened to MAX_REPEAT."""
    lo, hi = _count(schema, low, path) or 0, _count(schema, high, path)
    if hi is not None and hi < lo:
        raise SchemaError((*path, high), f"{high} {hi} is below {low} {lo}")
    if lo > MAX_REPEAT:
        raise SchemaError((*path, low), f"{low} above {MAX_REPEAT} cannot be enforced on this model")
    return lo, None if hi is None else min(hi, MAX_REPEAT)


def _integer_bounds(schema: dict[str, Any], path: Path) -> tuple[int, int]:
    """The integers an integer schema admits, as [lo, hi] within +-MAX_INTEGER; the tightest of each pair of
    inclusive and exclusive bounds, which may be any finite numbers."""
    lows, highs = [-MAX_INTEGER], [MAX_INTEGER]
    if "minimum" in schema:
        lows.append(math.ceil(_bound(schema, "minimum", path)))
    if "exclusiveMinimum" in schema:
        lows.append(math.floor(_bound(schema, "exclusiveMinimum", path)) + 1)
    if "maximum" in schema:
        highs.append(math.floor(_bound(schema, "maximum", path)))
    if "exclusiveMaximum" in schema:
        highs.append(math.ceil(_bound(schema, "exclusiveMaximum", path)) - 1)
    lo, hi = max(lows), min(highs)
    if lo > MAX_INTEGER:
        key = "minimum" if "minimum" in schema else "exclusiveMinimum"
        raise SchemaError((*path, key), f"a minimum above {MAX_INTEGER} (18 digits) cannot be enforced on this model")
    if hi < -MAX_INTEGER:
        key = "maximum" if "maximum" in schema else "exclusiveMaximum"
        raise SchemaError((*path, key), f"a maximum below -{MAX_INTEGER} (18 digits) cannot be enforced on this model")
    if lo > hi:
        raise SchemaError(path, "no integer lies between the minimum and the maximum")
    return lo, hi


def integer_range(lo: int | None, hi: int | None) -> str:
    """A grammar expression for the decimal integers in [lo, hi]; an open end is +-MAX_INTEGER."""
    lo = -MAX_INTEGER if lo is None else max(lo, -MAX_INTEGER)
    hi = MAX_INTEGER if hi is None else min(hi, MAX_INTEGER)
    parts: list[str] = []
    if lo < 0:  # negative numbers: "-" and the magnitudes in [max(1, -hi), -lo]
        parts += ['"-" ' + p for p in _range(max(1, -hi), -lo)] if -lo >= max(1, -hi) else []
    if hi >= 0:
        parts += _range(max(lo, 0), hi)
    return "(" + " | ".join(parts) + ")"


def _range(a: int, b: int) -> list[str]:
    """Patterns for the integers in [a, b], 0 <= a <= b, without leading zeros."""
    sa, sb = str(a), str(b)
    if len(sa) < len(sb):
        return _range(a, 10 ** len(sa) - 1) + _range(10 ** len(sa), b)
    if a == b:
        return [f'"{sa}"']
    i = next(k for k in range(len(sa)) if sa[k] != sb[k])
    prefix, rest = sa[:i], len(sa) - i - 1
    tail_any = "" if rest == 0 else " [0-9]" if rest == 1 else f" [0-9]{{{rest}}}"
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


COMBINATORS = ("$ref", "const", "enum", "anyOf", "oneOf", "allOf")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
    "boolean": (bool,), "null": (type(None),),
}  # fmt: skip


def _refuse_siblings(schema: dict[str, Any], path: Path) -> None:
    """A combinator ($ref, const, enum, anyOf, oneOf, allOf) is compiled on its own, so a constraining keyword beside
    it would be silently dropped: refused instead. One exception, as common as it is harmless: a `type` beside
    `enum` or `const` whose every value has that type (`{"type": "string", "enum": ["a", "b"]}`)."""
    used = [key for key in COMBINATORS if key in schema]
    if not used:
        return
    siblings = sorted(set(schema) & SUPPORTED - {*used[:1], "$defs", "definitions"})
    if used[0] in ("const", "enum") and siblings == ["type"]:
        values = [schema["const"]] if used[0] == "const" else schema["enum"]
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if isinstance(values, list) and all(_has_type(v, kinds) for v in values):
            return
        raise SchemaError((*path, "type"), f"a value of `{used[0]}` is not of the type the schema names")
    if siblings:
        raise SchemaError(
            path, f"keyword(s) {siblings} beside `{used[0]}` cannot be enforced; move them into its schema(s)"
        )


def _has_type(value: object, kinds: list[Any]) -> bool:
    for kind in kinds:
        types = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
        if types is None:
            continue
        if isinstance(value, bool) and kind in ("integer", "number"):
            continue  # JSON's booleans are not numbers
        if kind == "integer" and isinstance(value, float):
            if value.is_integer():
                return True  # JSON Schema: 2.0 is an integer
            continue
        if isinstance(value, types):
            return True
    return False
