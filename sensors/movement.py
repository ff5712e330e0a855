""" "No movement by 10:00" as pure functions: the window of a day, the first day to check,
and what counts as movement. No database, no clock: ``now`` and the zone are arguments.

Local times are turned into instants with ``zoneinfo``, so the window follows the clocks
on the days they change (10:00 is 09:00 UTC in summer and 10:00 UTC in winter).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Q

# What counts as the person moving: a motion sensor seeing movement, or getting out of
# bed. A door is not (it may be a visitor); a pendant press is not (it may be a fall).
MOVEMENT: dict[str, tuple[str, float]] = {"motion": ("gt", 0.0), "bed": ("eq", 0.0)}
MOVEMENT_DEVICE_KINDS = tuple(MOVEMENT)


def is_movement(kind: str, value: float) -> bool:
    rule = MOVEMENT.get(kind)
    if rule is None:
        return False
    op, ref = rule
    return value > ref if op == "gt" else value == ref


def movement_q() -> Q:
    """:func:`is_movement` as a query over ``SensorEvent`` (``kind``, ``value``)."""
    q = Q(pk__in=[])
    for kind, (op, ref) in MOVEMENT.items():
        q |= Q(kind=kind, **{f"value__{'gt' if op == 'gt' else 'exact'}": ref})
    return q


def window_for(
    day: dt.date, start: dt.time, by: dt.time, tz: ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """The instants (UTC) between which movement is expected on local ``day``."""
    lo = dt.datetime.combine(day, start, tzinfo=tz).astimezone(dt.UTC)
    hi = dt.datetime.combine(day, by, tzinfo=tz).astimezone(dt.UTC)
    return lo, hi


def first_day(now: dt.datetime, by: dt.time, tz: ZoneInfo) -> dt.date:
    """The first local day whose check is still ahead at ``now``: today before ``by``,
    else tomorrow (a person set up at 11:00 is first checked the next morning)."""
    local = now.astimezone(tz)
    return local.date() if local.time() < by else local.date() + dt.timedelta(days=1)
