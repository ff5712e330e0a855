"""How planned visits read on a page: the local day, and a visit's status (pure)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bots.models import PlannedVisit

LOCAL_TZ = ZoneInfo("Europe/London")


def local_day(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Start and end of ``now``'s day in Europe/London."""
    day = now.astimezone(LOCAL_TZ).date()
    start = dt.datetime.combine(day, dt.time(0), tzinfo=LOCAL_TZ)
    return start, start + dt.timedelta(days=1)


def visit_status(pv: PlannedVisit, now: dt.datetime) -> str:
    """done | in progress | missed | late | upcoming."""
    visit = getattr(pv, "visit", None)
    if visit is not None:
        return "done" if visit.checked_out_at else "in progress"
    if pv.missed_flagged_at is not None:
        return "missed"
    if pv.window_end < now:
        return "late"
    return "upcoming"
