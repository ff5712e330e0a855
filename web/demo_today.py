"""Today's visits for the demo care workers, planned relative to when the demo starts,
so a new user's home page and visits page have something to do now.

Written through ``bots.schedule.do_create_planned_visit`` (the one write path for planned
visits). Idempotent per day, so running ``seed_demo`` again (``./dev demo`` does, for its
banner) changes nothing: the key is a visit with the demo's note starting today.
"""

from __future__ import annotations

import datetime as dt

from bots.models import PlannedVisit
from bots.schedule import PlannedVisitIn, do_create_planned_visit
from careplan.common import LOCAL_TZ
from cocare_chat import clock
from rooms.errors import Conflict
from rooms.models import Person, ServiceUser

# (worker, service user's full name, minutes from now to the window's start, minutes long)
TODAY = [
    ("anna", "Margaret Hughes", -10, 40),  # open now: Anna can check in straight away
    ("anna", "Arthur Patel", 90, 30),
    ("anna", "Edith Walsh", 240, 30),
    ("ben", "Edith Walsh", 30, 30),
    ("ben", "Margaret Hughes", 180, 30),
]


NOTE = "Planned by the demo for today"


def _slot(now: dt.datetime, minutes: int) -> dt.datetime:
    """``now`` + minutes, on a five-minute mark (a window reads like a rota, not 10:03:17)."""
    t = (now + dt.timedelta(minutes=minutes)).astimezone(LOCAL_TZ)
    return t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)


def plan_today(now: dt.datetime | None = None) -> int:
    """Plan the demo workers' visits for the rest of today; returns how many were added.

    The visit open now is always planned, even when it runs past midnight (or began just
    before it), so the demo has something to do at any hour; a later slot that would run
    past midnight is left out (it would be tomorrow's visit). Idempotent: nothing is added
    while a demo visit still overlaps today."""
    now = now or clock.now()
    today = now.astimezone(LOCAL_TZ).date()
    day_start = dt.datetime.combine(today, dt.time(), LOCAL_TZ)
    midnight = day_start + dt.timedelta(days=1)
    if PlannedVisit.objects.filter(notes=NOTE, window_end__gt=day_start).exists():
        return 0  # seeded earlier today
    added = 0
    for username, full_name, offset, minutes in TODAY:
        worker = Person.objects.filter(user__username=username).first()
        su = ServiceUser.objects.filter(full_name=full_name).first()
        if worker is None or su is None:
            continue
        start = _slot(now, offset)
        end = start + dt.timedelta(minutes=minutes)
        if end > midnight and offset > 0:
            continue
        data = PlannedVisitIn(
            worker_id=worker.pk,
            window_start=start,
            window_end=end,
            expected_minutes=minutes,
            notes=NOTE,
        )
        try:
            do_create_planned_visit(su, data, now=now)
        except Conflict:
            continue
        added += 1
    return added
