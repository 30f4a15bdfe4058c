"""What the control plane's columns hold, so values are refused (admin payloads) or fitted (ledger rows) before a
database refuses them.

Integer columns are 32-bit on PostgreSQL and 64-bit on SQLite; the narrower range is the one both hold, so it is the
range everywhere. PostgreSQL also refuses a NUL character in any text, and a string longer than its column.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, TypeVar

from pydantic import Field, StringConstraints
from sqlalchemy import Float, Integer, String, Table

from ..errors import InvalidRequest

INT_MAX = 2**31 - 1
NAME_LENGTH = 200  # the names and references of projects, keys, models and guardrails
ID_LENGTH = 40  # generated ids (projects, keys, requests)
USD_MAX = 1e15  # a budget no one will reach, and far inside a double's exact range
TIME_MAX = 1e11  # Unix seconds in the year 5138
S = TypeVar("S", bound=str | None)

NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_LENGTH, pattern=NO_NUL)]
Count = Annotated[int, Field(ge=1, le=INT_MAX)]
Usd = Annotated[float, Field(ge=0, le=USD_MAX, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0, le=TIME_MAX, allow_inf_nan=False)]


def text(value: S, name: str, max_length: int = NAME_LENGTH) -> S:
    """A query or path parameter that is compared with a column: bounded and free of NUL, or a 400 naming it."""
    if value is not None and (len(value) > max_length or "\x00" in value):
        raise InvalidRequest(f"{name}: at most {max_length} characters and no NUL character", param=name)
    return value


def fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every value made to fit its column: integers clamped, non-finite floats zeroed, strings without NUL
    and cut to length, values of the wrong type dropped to NULL (or zero where the column needs a value); keys that
    are no column are left out. For a row the database refused, so the request it records is not lost."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key not in table.c:
            continue
        column = table.c[key]
        out[key] = _fit_value(column.type, value, bool(column.nullable) or key == "request_id")
    return out


def _fit_value(kind: Any, value: Any, nullable: bool) -> Any:
    if value is None:
        return None if nullable else _zero(kind)
    if isinstance(kind, Integer):
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return max(-INT_MAX - 1, min(INT_MAX, int(value)))
    elif isinstance(kind, Float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value) if abs(value) < 1e300 else math.inf
            if math.isfinite(number):
                return number
    elif isinstance(kind, String):
        cleaned = str(value).replace("\x00", "\ufffd")
        return cleaned[: kind.length] if kind.length else cleaned
    else:
        return value
    return None if nullable else _zero(kind)


def _zero(kind: Any) -> Any:
    return 0 if isinstance(kind, Integer) else 0.0 if isinstance(kind, Float) else ""
