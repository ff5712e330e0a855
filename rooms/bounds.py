"""The one rule at every boundary: finite numbers, bounded dates, ids that fit a column.

Every API body, query, path parameter and websocket frame is parsed with these, so a value
that the database, the ticker or a chart could not handle is refused at the door with a
clear ``invalid`` error naming the field — never stored, never a 500 (docs/security.md,
"Hostile input").

- :func:`loads` parses JSON and refuses ``NaN``, ``Infinity``, numbers that overflow a
  float (``1e999``) and integers outside a signed 64-bit column, anywhere in the document
  (also inside free-form maps), raising :class:`BadNumber` that names the field. Python's
  ``json`` accepts the first three by default, and PostgreSQL's ``jsonb`` then fails at
  insert time with the statement's parameters — the message body — in the error text.
- :func:`check_numbers` is the same walk for an already-parsed value; :data:`JsonObject`
  applies it to a free-form ``dict`` field of a pydantic model.
- :data:`BoundedDatetime` accepts instants from 2000-01-01 to 2100-01-01 (UTC). Anything
  outside is a typo or an attack: ``0001-01-01T00:00:00+14:00`` is year 0 in UTC, which
  neither Python nor PostgreSQL can represent. :data:`BoundedDate` likewise.
- :data:`Id` bounds an id to 1..2^63-1 (a ``bigint`` primary key); :data:`FiniteFloat`
  refuses non-finite floats.
- :class:`IdConverter` is the URL converter ``<id:name>`` for Django page routes: a path
  segment that cannot be an id does not match, so the page answers 404, never 500.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
EARLIEST_DATE = EARLIEST.date()
LATEST_DATE = LATEST.date()
BIGINT_MAX = 2**63 - 1
BIGINT_MIN = -(2**63)
T = TypeVar("T")


class BadNumber(ValueError):
    """A number no column can hold. ``field`` is its dotted path (``payload.location.lat``;
    ``""`` for the document itself); the message names the field, never the value."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


# The name this module first shipped with.
NonFiniteNumber = BadNumber


def _problem(value: Any) -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else "must be a finite number"
    if isinstance(value, int) and not isinstance(value, bool):
        return None if BIGINT_MIN <= value <= BIGINT_MAX else "is too large a number"
    return None


def check_numbers(value: T, root: str = "") -> T:
    """Return ``value`` if every number in it is finite and fits 64 bits; else BadNumber.

    Walks dicts and lists without recursion (a deep document cannot overflow the stack).
    """
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict):
            stack.extend((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((f"{path}.{i}" if path else str(i), x) for i, x in enumerate(v))
        elif (problem := _problem(v)) is not None:
            raise BadNumber(path, problem)
    return value


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses numbers no column can hold (raises :class:`BadNumber`).

    Other malformed input raises what ``json.loads`` raises (``ValueError``, or
    ``RecursionError`` for absurd nesting).
    """
    return check_numbers(json.loads(text))


def _finite_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_numbers(value)
    except BadNumber as exc:
        raise ValueError(str(exc)) from None


def in_range(value: dt.datetime) -> dt.datetime:
    """Return ``value`` if it lies in [2000, 2100) UTC; raise ``ValueError`` otherwise.

    A naive value is judged by its wall time (callers attach their zone afterwards).
    The UTC conversion itself can overflow at the ends of the calendar, so it is guarded.
    """
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            ok = EARLIEST.replace(tzinfo=None) <= value < LATEST.replace(tzinfo=None)
        else:
            ok = EARLIEST <= value.astimezone(dt.UTC) < LATEST
    except (OverflowError, ValueError):
        ok = False
    if not ok:
        raise ValueError("must be between 2000-01-01 and 2100-01-01")
    return value


def date_in_range(value: dt.date) -> dt.date:
    if not EARLIEST_DATE <= value < LATEST_DATE:
        raise ValueError("must be between 2000-01-01 and 2100-01-01")
    return value


BoundedDatetime = Annotated[dt.datetime, AfterValidator(in_range)]
BoundedDate = Annotated[dt.date, AfterValidator(date_in_range)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Id = Annotated[int, Field(ge=1, le=BIGINT_MAX)]
# A free-form JSON object (bot card data, signal data): any shape, numbers still bounded.
JsonObject = Annotated[dict[str, Any], AfterValidator(_finite_json)]


class IdConverter:
    """``<id:name>`` in Django URL patterns: 1 to 19 ASCII digits that fit a bigint."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        n = int(value)
        if not 1 <= n <= BIGINT_MAX:
            raise ValueError("not an id")  # Django treats this as "no match": a 404
        return n

    def to_url(self, value: int) -> str:
        return str(value)
