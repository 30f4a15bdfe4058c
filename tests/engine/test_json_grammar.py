import random
import re

import pytest

from basalt.engine.json_grammar import SchemaError, _range, integer_range, schema_to_gbnf


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
