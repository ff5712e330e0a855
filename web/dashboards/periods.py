"""Dashboard filters (period, provider) and the time buckets a period is drawn in. Pure.

Query strings are validated by pydantic (``extra="forbid"``): an unknown parameter or
period is a 400 with the field named, never a 500.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, field_validator

from rooms.bounds import Id

LONDON = ZoneInfo("Europe/London")
Bucket = Literal["day", "week", "month"]
PeriodName = Literal["4w", "13w", "1y", "3y"]

# name -> (days, bucket, label)
PERIODS: dict[str, tuple[int, Bucket, str]] = {
    "4w": (28, "day", "4 weeks"),
    "13w": (91, "week", "13 weeks"),
    "1y": (365, "week", "1 year"),
    "3y": (1095, "month", "3 years"),
}


class Filters(BaseModel):
    """Query-string filters of a dashboard page, its JSON and its CSV."""

    model_config = ConfigDict(extra="forbid")
    period: PeriodName | None = None
    provider: Id | None = None

    @field_validator("period", "provider", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # A select's "All providers" option submits provider= (empty): that means no filter.
        return None if v == "" else v


@dataclass(frozen=True)
class Window:
    name: str
    start: dt.datetime
    end: dt.datetime
    bucket: Bucket
    label: str

    @property
    def weeks(self) -> float:
        return (self.end - self.start).total_seconds() / (7 * 86400)


def window(name: str, now: dt.datetime) -> Window:
    """The last N days up to ``now``, starting at a local midnight (so a window is made of
    whole days, as the daily rollups are)."""
    days, bucket, label = PERIODS[name]
    first = (now.astimezone(LONDON) - dt.timedelta(days=days)).date()
    return Window(name, dt.datetime.combine(first, dt.time(), LONDON), now, bucket, label)


def bucket_start(t: dt.datetime, bucket: Bucket) -> dt.date:
    """The local (Europe/London) day, ISO week Monday or month start containing ``t``."""
    d = t.astimezone(LONDON).date()
    if bucket == "week":
        return d - dt.timedelta(days=d.weekday())
    if bucket == "month":
        return d.replace(day=1)
    return d


def buckets(w: Window) -> list[dt.date]:
    """Every bucket of the window, oldest first (so empty buckets draw as zero)."""
    out = []
    d = bucket_start(w.start, w.bucket)
    last = bucket_start(w.end, w.bucket)
    while d <= last:
        out.append(d)
        if w.bucket == "day":
            d += dt.timedelta(days=1)
        elif w.bucket == "week":
            d += dt.timedelta(days=7)
        else:
            d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def bucket_weeks(b: dt.date, w: Window) -> float:
    """How many weeks of bucket ``b`` fall inside the window (commissioned hours scale)."""
    if w.bucket == "day":
        nxt = b + dt.timedelta(days=1)
    elif w.bucket == "week":
        nxt = b + dt.timedelta(days=7)
    else:
        nxt = (b.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    lo = max(dt.datetime.combine(b, dt.time(), LONDON), w.start)
    hi = min(dt.datetime.combine(nxt, dt.time(), LONDON), w.end)
    return max(0.0, (hi - lo).total_seconds() / (7 * 86400))
