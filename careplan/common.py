"""Shared shapes of the pure care-plan rules: a strict base model, keys, local time, flags.

Nothing here touches the database or the clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Care is planned in UK local time: "the 08:00 dose" is 08:00 on the wall clock, in
# summer and in winter.
LOCAL_TZ = ZoneInfo("Europe/London")

Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
"""A short stable key (task, outcome, visit type): lower case, digits, ``-`` and ``_``."""

Severity = Literal["low", "medium", "high"]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it at the door (422), never a 500 at insert.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""Free text of the record (labels, names, notes): any characters but NUL."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def parse_hhmm(value: str) -> dt.time:
    """``"08:00"`` -> ``time(8, 0)``; raises ValueError for anything else."""
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ValueError("must be a local time of day as HH:MM")
    hh, mm = value[:2], value[3:]
    if not (hh.isdigit() and mm.isdigit()) or int(hh) > 23 or int(mm) > 59:
        raise ValueError("must be a local time of day as HH:MM")
    return dt.time(int(hh), int(mm))


LocalTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
"""A local wall-clock time of day, ``HH:MM`` (24-hour)."""


class FlagOut(Strict):
    """A flag for the escalation engine, written as a ``signal`` entry (docs/log-contract.md).

    ``ref`` is stable for the thing flagged, so the signal's client id (and the engine's
    ``(message, rule)`` key) make a repeat harmless.
    """

    concern: Literal["care_task", "medication"]
    severity: Severity
    source: str = Field(min_length=1, max_length=40)
    ref: str = Field(min_length=1, max_length=120)
    reason: str = Field("", max_length=300)

    def payload(self) -> dict[str, Any]:
        return {"signal": "flag", "data": self.model_dump()}


def local_date(at: dt.datetime) -> dt.date:
    return at.astimezone(LOCAL_TZ).date()


def local_hhmm(at: dt.datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%H:%M")


def at_local(day: dt.date, time_of_day: dt.time) -> dt.datetime:
    """The instant of a local wall-clock time on a local day (UTC-aware).

    In the autumn fold the first occurrence is used; a spring-gap time (01:30 on the day
    the clocks go forward) is read with the offset before the change, as zoneinfo does.
    """
    return dt.datetime.combine(day, time_of_day, LOCAL_TZ).astimezone(dt.UTC)
