import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basalt.engine.json_grammar import (
    MAX_CHOICES,
    MAX_GRAMMAR_CHARS,
    MAX_INTEGER,
    SUPPORTED,
    TYPES,
    SchemaError,
    _range,
    check_grammar,
    choice_to_gbnf,
    integer_range,
    schema_to_gbnf,
)
from basalt.engine.llama import LlamaModel, Sampler


def pattern_to_regex(expr: str) -> str:
    """The GBNF integer patterns use only literals, classes and {m,n}: turn them into a Python regex."""
    expr = re.sub(r'"([^"]*)"', lambda m: re.escape(m.group(1)), expr)
    return expr.replace(" ", "")


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0, 9), (1, 7), (0, 100), (13, 4821), (-50, 50), (-7, -3), (999, 1001), (None, -5), (3, None), (None, None)],
)
def test_integer_range_matches_exactly_the_integers_in_range(lo: int | None, hi: int | None) -> None:
    regex = re.compile(pattern_to_regex(integer_range(lo, hi)))
    for n in list(range(-6000, 6000)) + [random.randint(-(10**12), 10**12) for _ in range(2000)]:
        inside = (lo is None or n >= lo) and (hi is None or n <= hi)
        assert bool(regex.fullmatch(str(n))) == inside, (lo, hi, n)
    assert not regex.fullmatch("007")


def test_ranges_are_split_into_few_patterns() -> None:
    assert _range(0, 9) == ["[0-9]"]
    assert len(_range(13, 4821)) < 12


def test_grammar_mentions_only_what_it_uses() -> None:
    grammar = schema_to_gbnf({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]})
    assert "root ::=" in grammar and "boolean ::=" in grammar
    assert "number ::=" not in grammar


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a+$"},
        {"type": "string", "format": "email"},
        {"type": "number", "minimum": 1.5},
        {"allOf": [{"type": "string"}, {"maxLength": 3}]},
        {"type": "object", "properties": {}, "required": ["x"]},
        {"$ref": "https://example.com/schema"},
    ],
)
def test_constraints_that_cannot_be_enforced_are_refused(schema: dict) -> None:
    with pytest.raises(SchemaError):
        schema_to_gbnf(schema)


# -- hostile schemas: every one compiles to a bounded grammar or is refused naming where, never anything else -------


def integer_regex(schema: dict[str, Any]) -> re.Pattern[str]:
    rules = dict(line.split(" ::= ", 1) for line in schema_to_gbnf(schema).splitlines())
    return re.compile(pattern_to_regex(rules[rules["root"]]))


@pytest.mark.parametrize(
    ("schema", "inside", "outside"),
    [
        ({"type": "integer", "maximum": 1e300}, [MAX_INTEGER, 0, -MAX_INTEGER], [MAX_INTEGER * 10]),
        ({"type": "integer", "minimum": -(10**30), "maximum": -(10**17)}, [-MAX_INTEGER, -(10**17)], [-(10**17) + 1]),
        ({"type": "integer", "exclusiveMinimum": 1.5, "exclusiveMaximum": 4.0}, [2, 3], [1, 4]),
        ({"type": "integer", "minimum": 2.5, "maximum": 7.9}, [3, 7], [2, 8]),
        ({"type": "integer", "minimum": 3, "exclusiveMinimum": 5, "maximum": 9, "exclusiveMaximum": 8}, [6, 7], [5, 8]),
        ({"type": "integer", "minimum": -20, "maximum": -10}, [-20, -15, -10], [-21, -9, 10]),
    ],
)
def test_integer_bounds_of_any_size_and_kind_compile_to_exactly_the_integers_in_range(
    schema: dict[str, Any], inside: list[int], outside: list[int]
) -> None:
    regex = integer_regex(schema)
    assert all(regex.fullmatch(str(n)) for n in inside)
    assert not any(regex.fullmatch(str(n)) for n in outside)


@pytest.mark.parametrize(
    ("schema", "where", "words"),
    [
        # The issue's schema: llama.cpp expanded its `{19,18}` until the kernel killed the server.
        ({"type": "integer", "minimum": 1000000000000000000}, "#/minimum", "minimum above"),
        ({"type": "integer", "maximum": -1e19}, "#/maximum", "maximum below"),
        ({"type": "integer", "minimum": 5, "maximum": 3}, "#", "no integer lies"),
        ({"type": "integer", "exclusiveMinimum": 2, "exclusiveMaximum": 3}, "#", "no integer lies"),
        ({"type": "integer", "exclusiveMinimum": True}, "#/exclusiveMinimum", "finite number"),
        ({"type": "integer", "maximum": "9"}, "#/maximum", "finite number"),
        ({"type": "object", "properties": [1, 2]}, "#/properties", "must be an object"),
        ({"type": "object", "properties": {"a": 3}}, "#/properties/a", "a schema must be"),
        ({"type": "object", "properties": {"a": True}, "required": [{}]}, "#/required", "list of property names"),
        ({"type": "object", "additionalProperties": [1]}, "#/additionalProperties", "schema or a boolean"),
        ({"type": "string", "minLength": 10**9}, "#/minLength", "above 2000"),
        ({"type": "string", "minLength": -1}, "#/minLength", "non-negative integer"),
        ({"type": "string", "maxLength": 2.5}, "#/maxLength", "non-negative integer"),
        ({"type": "string", "minLength": 5, "maxLength": 4}, "#/maxLength", "below minLength"),
        ({"type": "array", "minItems": 3, "maxItems": 1}, "#/maxItems", "below minItems"),
        ({"type": "array", "items": [{"type": "string"}]}, "#/items", "as a list"),
        ({"type": "array", "minItems": 10**6}, "#/minItems", "above 2000"),
        ({"type": ["string", "string"]}, "#/type", "distinct types"),
        ({"type": 7}, "#/type", "unknown type"),
        ({"enum": []}, "#/enum", "non-empty list"),
        ({"enum": list(range(MAX_CHOICES + 1))}, "#/enum", "more than"),
        ({"anyOf": {"type": "string"}}, "#/anyOf", "non-empty list"),
        ({"anyOf": [{"type": "string"}, 5]}, "#/anyOf/1", "a schema must be"),
        ({"properties": {f"p{i}": True for i in range(MAX_CHOICES + 1)}}, "#/properties", "more than"),
        ({"$ref": 5}, "#/$ref", "must be a string"),
        ({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "#/$defs/a/$ref", "refers back to itself"),
        ({"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}}, "$ref": "#/$defs/a"}, "", "itself"),
        ({"$defs": {"a": {"type": "wat"}}, "$ref": "#/$defs/a"}, "#/$defs/a/type", "unknown type"),
        ({"const": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}, "", ""),
        (5, "#", "a schema must be"),
    ],
)
def test_hostile_schemas_are_refused_with_the_place_and_the_reason(schema: Any, where: str, words: str) -> None:
    try:
        grammar = schema_to_gbnf(schema)
    except SchemaError as exc:
        assert str(exc).startswith(f"at {where}") and words in str(exc)
        return
    assert where == "" and len(grammar) < MAX_GRAMMAR_CHARS  # a value that deep is fine as a constant


@pytest.mark.parametrize(
    ("schema", "where", "words"),
    [
        ({"enum": [1, 50], "minimum": 10}, "#", "['minimum'] beside `enum`"),
        ({"const": "a", "maxLength": 0}, "#", "['maxLength'] beside `const`"),
        ({"anyOf": [{"type": "string"}], "maxLength": 3}, "#", "['maxLength'] beside `anyOf`"),
        ({"type": "object", "properties": {"a": True}, "oneOf": [{"required": ["a"]}]}, "#", "beside `oneOf`"),
        ({"$defs": {"s": {"type": "string"}}, "$ref": "#/$defs/s", "minLength": 2}, "#", "beside `$ref`"),
        ({"type": "string", "enum": ["a", 2]}, "#/type", "not of the type"),
        ({"type": "integer", "const": True}, "#/type", "not of the type"),
    ],
)
def test_constraints_beside_a_combinator_are_refused_not_dropped(schema: Any, where: str, words: str) -> None:
    with pytest.raises(SchemaError) as caught:
        schema_to_gbnf(schema)
    assert str(caught.value).startswith(f"at {where}") and words in str(caught.value)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "enum": ["celsius", "fahrenheit"]},
        {"type": ["integer", "null"], "enum": [1, 2.0, None]},
        {"type": "number", "const": 3},
        {"$ref": "#/$defs/s", "$defs": {"s": {"type": "string"}}, "description": "annotations stay harmless"},
    ],
)
def test_a_type_that_every_value_has_may_stand_beside_enum_or_const(schema: Any) -> None:
    check_grammar(schema_to_gbnf(schema))  # compiles, and to a grammar within the bounds


def test_upper_bounds_beyond_the_grammar_are_tightened_not_dropped() -> None:
    assert 'char{3,2000} "\\""' in schema_to_gbnf({"type": "string", "minLength": 3, "maxLength": 10**12})
    assert "){1,1999}" in schema_to_gbnf({"type": "array", "minItems": 2, "maxItems": 1e9})


def test_deep_nesting_is_refused_before_python_recursion_runs_out() -> None:
    schema: Any = {"type": "string"}
    for _ in range(900):
        schema = {"type": "array", "items": schema}
    with pytest.raises(SchemaError, match="nested more than 64 deep"):
        schema_to_gbnf(schema)


TREE = {"$defs": {"t": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#/$defs/t"}}]}}}


def test_a_recursive_schema_through_an_array_compiles() -> None:
    grammar = schema_to_gbnf({**TREE, "$ref": "#/$defs/t"})
    assert "ref-t ::=" in grammar


def test_the_finished_grammar_is_checked_before_llama_cpp_sees_it() -> None:
    for bad in (
        "root ::= [0-9]{19,18}\n",
        "root ::= [0-9]{2001}\n",
        "root ::= x\n" * 30 + "x ::= [0-9]{0,1999}\n" * 26,
    ):
        with pytest.raises(SchemaError, match="grammar would"):
            check_grammar(bad)
    check_grammar('root ::= "{19,18}" [0-9]{0,1999}\n')  # braces inside a literal are text
    with pytest.raises(SchemaError, match="characters"):
        schema_to_gbnf({"enum": ["x" * 1000] * MAX_CHOICES})


def test_a_tool_call_grammar_names_the_tool_whose_schema_fails_and_resolves_refs_in_each_tool() -> None:
    ok = {"type": "object", "properties": {"d": {"$ref": "#/$defs/d"}}, "$defs": {"d": {"type": "integer"}}}
    bad = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10**20}}}
    assert "ref-d ::= integer" in choice_to_gbnf("arguments", [("a", ok), ("b", ok)])
    with pytest.raises(SchemaError) as caught:
        choice_to_gbnf("arguments", [("a", ok), ("b", bad)])
    assert str(caught.value).startswith("at #/b/properties/n/minimum:")


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from([*TYPES, "#/$defs/a", "#/properties/a", "#/$defs/a/items", "#"])
)
SCHEMA_KEYS = st.sampled_from(sorted(SUPPORTED | {"a", "pattern", "title"}))
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SCHEMA_KEYS | st.text(max_size=3), inner, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_any_json_value_as_a_schema_gives_a_bounded_grammar_or_a_schema_error(schema: Any) -> None:
    try:
        grammar = schema_to_gbnf(schema)
    except SchemaError as exc:
        assert str(exc).startswith("at #")
        return
    check_grammar(grammar)
    assert grammar.startswith("root ::= ")


@pytest.fixture(scope="module")
def vocab_model(model_path: Path) -> Iterator[LlamaModel]:
    model = LlamaModel(model_path)
    yield model
    model.close()


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": 10**17, "maximum": 1e300},
        {"type": "integer", "exclusiveMinimum": -1e30},
        {"type": "string", "minLength": 1999, "maxLength": 10**9},
        {"type": "array", "minItems": 1999, "items": {"type": "integer", "minimum": -5, "maximum": 5}},
        {
            "$defs": {"t": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#/$defs/t"}}]}},
            "$ref": "#/$defs/t",
        },
        {"type": "object", "properties": {"é ü": {"enum": ["ü", 1, None, {"a": [1]}]}}},
    ],
)
def test_llama_cpp_accepts_the_grammars_of_extreme_schemas_at_once(vocab_model: LlamaModel, schema: Any) -> None:
    started = time.perf_counter()
    sampler = Sampler(
        vocab_model, temperature=1.0, top_p=None, top_k=None, seed=0, grammar=schema_to_gbnf(schema)
    )  # raises ValueError if llama.cpp cannot parse it
    sampler.free()
    assert time.perf_counter() - started < 1.0
