"""A small hand-built history for Peggy (tests.support.cast) whose dashboard figures can
be worked out by hand. All times UTC (= Europe/London in March before the clock change).

- Mon 2 Mar 10:00-10:30 planned for Anna; Anna checked in 10:05, 30 min -> on time
- Tue 3 Mar 10:00-10:30 planned for Ben;  Ben checked in 10:40, 45 min -> 10 min late
- Tue 3 Mar 17:00-17:30 planned for Anna; nobody came                  -> missed
- Wed 4 Mar 07:00 Anna, unplanned, 20 min
- alerts: Mon 12:00 acked 12:12 (12 min); Tue 12:00 acked 13:00 (60 min), escalated
- observations: health 1 (Mon), 3 (Tue); care experience 0 (Mon)
- commissioned 10.5 h/week
"""

from __future__ import annotations

import datetime as dt

from bots.models import Observation, PlannedVisit, Visit
from escalation.models import Alert
from rooms.models import Role, ServiceUser
from rooms.network import do_add_member
from tests.support.cast import T0, Cast, person

NOW = dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC)


def at(day: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hh, mm, tzinfo=dt.UTC)


def planned(cast: Cast, worker, start: dt.datetime) -> PlannedVisit:
    return PlannedVisit.objects.create(
        service_user=cast.peggy,
        worker=worker,
        window_start=start,
        window_end=start + dt.timedelta(minutes=30),
        expected_minutes=30,
        missed_check_at=start + dt.timedelta(minutes=60),
        created_at=T0,
        updated_at=T0,
    )


def visit(cast: Cast, worker, cin: dt.datetime, minutes: int, pv=None) -> Visit:
    return Visit.objects.create(
        service_user=cast.peggy,
        worker=worker,
        planned_visit=pv,
        checked_in_at=cin,
        checked_out_at=cin + dt.timedelta(minutes=minutes),
        duration_minutes=minutes,
        checkin_location=Visit.Location.IN_RANGE,
        late=bool(pv and cin > pv.window_end),
    )


def build_history(cast: Cast):
    ben = person("ben", "Ben Okafor", Role.CARE_WORKER, cast.provider)
    do_add_member(cast.team, ben, by=cast.carol, now=T0, notify=False)
    ServiceUser.objects.filter(pk=cast.peggy.pk).update(commissioned_hours_per_week=10.5)
    p1 = planned(cast, cast.anna, at(2, 10))
    p2 = planned(cast, ben, at(3, 10))
    planned(cast, cast.anna, at(3, 17))
    v1 = visit(cast, cast.anna, at(2, 10, 5), 30, p1)
    v2 = visit(cast, ben, at(3, 10, 40), 45, p2)
    visit(cast, cast.anna, at(4, 7), 20)
    Alert.objects.create(
        service_user=cast.peggy,
        concern="falls",
        severity="high",
        state="resolved",
        opened_at=at(2, 12),
        acknowledged_at=at(2, 12, 12),
        resolved_at=at(2, 14),
        policy={},
    )
    Alert.objects.create(
        service_user=cast.peggy,
        concern="confusion",
        severity="medium",
        state="acknowledged",
        opened_at=at(3, 12),
        acknowledged_at=at(3, 13),
        council_notified_at=at(3, 12, 45),
        policy={},
    )
    for v, domain, score in ((v1, "health", 1), (v2, "health", 3), (v1, "care_experience", 0)):
        Observation.objects.create(
            service_user=cast.peggy,
            domain=domain,
            question_key="q",
            question_version=1,
            score=score,
            visit=v,
            answered_by=v.worker,
            at=v.checked_out_at,
        )
    return ben
