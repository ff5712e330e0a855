"""The sensor boundary: what a hub may send, and the signal written to the log.

Every field is bounded with the shared primitives of ``rooms.bounds``: numbers finite,
instants between 2000 and 2100 *and* with a time zone, ids ASCII and short. Freshness
(not from the future, not older than ``MAX_AGE``) depends on ``now`` and is checked by
:func:`fresh`, a pure function, so tests pass the time in.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from rooms.bounds import FiniteFloat, in_range

# The hub's own ids: printable ASCII only, so a Cyrillic "а" cannot pose as a Latin "a".
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
DeviceId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
EventId = Annotated[str, Field(min_length=1, max_length=100, pattern=ID_PATTERN)]
Instant = Annotated[AwareDatetime, AfterValidator(in_range)]
Reading = Annotated[FiniteFloat, Field(ge=0, le=1_000_000)]
Kind = Literal["door", "motion", "bed", "pendant"]

MAX_BATCH = 200
MAX_FUTURE = dt.timedelta(minutes=5)  # hub clocks drift; more than this is a wrong clock
MAX_AGE = dt.timedelta(days=7)  # a hub offline for a week has nothing safeguarding can use
# Kinds whose value is a state, 1 or 0: door open/closed, in/out of bed, pressed/cancelled.
# Motion may report a count of movements in the hub's interval.
BINARY_KINDS = frozenset({"door", "bed", "pendant"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class EventIn(Strict):
    """One event as a hub sends it (docs/sensors-and-assessors.md)."""

    device_id: DeviceId
    event_id: EventId
    kind: Kind
    # Strict: a number, not "1" or true (a hub sending those is misconfigured).
    value: Annotated[Reading, Field(strict=True)]
    occurred_at: Instant


class BatchIn(Strict):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


def value_error(kind: str, value: float) -> str | None:
    """Why ``value`` is not a valid reading for ``kind``, or None."""
    if kind in BINARY_KINDS and value not in (0.0, 1.0):
        return f"a {kind} reading is 1 or 0"
    return None


def fresh(occurred_at: dt.datetime, now: dt.datetime) -> str | None:
    """Why ``occurred_at`` cannot be accepted at ``now``, or None (pure)."""
    if occurred_at > now + MAX_FUTURE:
        return "is in the future (check the hub's clock)"
    if occurred_at < now - MAX_AGE:
        return f"is more than {MAX_AGE.days} days old"
    return None


SignalKind = Literal["door", "motion", "bed", "pendant", "no_movement"]


class SensorSignal(Strict):
    """``data`` of a ``{"signal": "sensor"}`` log entry (docs/log-contract.md).

    Validated here before it is written; the escalation engine validates its own copy of
    the contract when it reads it.
    """

    kind: SignalKind
    value: Reading
    occurred_at: Instant
    location: str = Field("", max_length=60)
    device: str = Field("", max_length=64)
    hub: int | None = Field(None, ge=1)
    event_id: str = Field("", max_length=100)
    # For the movement timer: the window in which movement was expected.
    window_start: Instant | None = None
