"""The one rule at every boundary: finite numbers, bounded dates, ids that fit a column.

Every API body, query, path parameter and websocket frame is parsed with these, so a value
that the database, the ticker or a chart could not handle is refused at the door with a
clear ``invalid`` error naming the field — never stored, never a 500 (docs/security.md).

- :func:`loads` parses JSON refusing ``NaN``, ``Infinity`` and numbers that overflow a
  float (``1e999``): Python's ``json`` accepts all three by default, and PostgreSQL's
  ``jsonb`` then fails at insert time with the parameters in the error text.
- :data:`BoundedDatetime` accepts instants from 2000-01-01 to 2100-01-01 (UTC). Anything
  outside is a typo or an attack: ``0001-01-01T00:00:00+14:00`` is year 0 in UTC, which
  neither Python nor PostgreSQL can represent.
- :data:`Id` and :data:`FiniteFloat` bound integers to a signed 64-bit column and floats
  to finite values.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
EARLIEST_DATE = EARLIEST.date()
LATEST_DATE = LATEST.date()
BIGINT_MAX = 2**63 - 1


class NonFiniteNumber(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise NonFiniteNumber(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"{text[:20]} is too large a number")
    return value


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses non-finite numbers (raises ``ValueError``)."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


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
