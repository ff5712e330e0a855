"""Weekly visit patterns: visits planned ahead on the right local dates and times, once
per (pattern, date) even when replayed; ending and changing a pattern; the page and API,
with access across providers and councils and odd input."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from bots.health import overdue_patterns
from bots.models import PlannedVisit, VisitPattern
from bots.patterns import (
    HORIZON_DAYS,
    PatternIn,
    PatternTicker,
    check_create_pattern,
    check_end_pattern,
    check_replace_pattern,
)
from bots.runner import make_workers
from bots.schedule import PlannedVisitIn, do_create_planned_visit
from rooms.health import Thresholds
from rooms.models import AuditEvent
from tests.support.cast import T0

pytestmark = pytest.mark.django_db
# T0 is Monday 2 March 2026, 09:00 UTC (09:00 in London; BST starts on 29 March).
MON = dt.date(2026, 3, 2)


def pin(cast, **kw):
    base = {
        "worker_id": cast.anna.id,
        "weekdays": [0, 2, 4],
        "start_time": "08:00",
        "minutes": 30,
        "visit_type": "Morning call",
        "starts_on": MON.isoformat(),
    }
    return PatternIn.model_validate(base | kw)


def planned(p):
    return list(
        PlannedVisit.objects.filter(pattern=p, status="planned")
        .order_by("window_start")
        .values_list("pattern_date", flat=True)
    )


def test_visits_are_planned_two_weeks_ahead_on_the_pattern_days_once(cast):
    p = check_create_pattern(cast.carol, cast.peggy.id, pin(cast), now=T0)
    assert PatternTicker in {type(w) for w in make_workers()}
    t = PatternTicker()
    n = t.run_once(T0)
    days = planned(p)
    horizon = MON + dt.timedelta(days=HORIZON_DAYS)
    assert days == [
        d
        for d in (MON + dt.timedelta(days=i) for i in range(15))
        if d.weekday() in (0, 2, 4) and d <= horizon
    ]
    assert n == len(days) == 7
    first = PlannedVisit.objects.get(pattern=p, pattern_date=MON)
    assert first.window_start == dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
    assert (first.expected_minutes, first.notes, first.worker_id) == (
        30,
        "Morning call",
        cast.anna.id,
    )
    assert t.run_once(T0) == 0  # nothing due
    # a replay (the timer column reset, as after a restore) plans nothing twice
    VisitPattern.objects.filter(pk=p.pk).update(generated_until=MON - dt.timedelta(days=1))
    assert t.run_once(T0) == 0
    assert PlannedVisit.objects.filter(pattern=p).count() == 7
    # weeks later the horizon has moved on; after BST starts, still 08:00 local
    later = T0 + dt.timedelta(days=28)
    t.run_once(later)
    bst = PlannedVisit.objects.get(pattern=p, pattern_date=dt.date(2026, 3, 30))
    assert bst.window_start == dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)


def test_a_date_planned_by_hand_is_left_alone_and_ends_on_is_respected(cast):
    start = dt.datetime(2026, 3, 4, 8, 0, tzinfo=dt.UTC)
    do_create_planned_visit(
        cast.peggy,
        PlannedVisitIn(
            worker_id=cast.anna.id, window_start=start, window_end=start + dt.timedelta(minutes=45)
        ),
        now=T0,
    )
    p = check_create_pattern(cast.carol, cast.peggy.id, pin(cast, ends_on="2026-03-06"), now=T0)
    PatternTicker().run_once(T0)
    assert planned(p) == [MON, dt.date(2026, 3, 6)]
    assert PlannedVisit.objects.filter(window_start=start).count() == 1


def test_ending_and_changing_a_pattern_cancel_its_future_visits_only(cast):
    p = check_create_pattern(cast.carol, cast.peggy.id, pin(cast), now=T0)
    PatternTicker().run_once(T0)
    now = T0 + dt.timedelta(days=2, hours=1)  # Wednesday 10:00: Mon and Wed have started
    new = check_replace_pattern(
        cast.carol,
        p.id,
        pin(cast, weekdays=[1], start_time="18:00", starts_on="2026-03-04"),
        now=now,
    )
    assert [d for d in planned(p)] == [MON, dt.date(2026, 3, 4)]
    p.refresh_from_db()
    assert p.ended_at == now and p.ends_on == dt.date(2026, 3, 4)
    PatternTicker().run_once(now)
    assert planned(new)[0] == dt.date(2026, 3, 10)
    ahead = len(planned(new))
    assert ahead == 2  # Tue 10 and Tue 17 March
    assert check_end_pattern(cast.carol, new.id, now=now) == ahead
    assert planned(new) == []
    assert check_end_pattern(cast.carol, new.id, now=now) == 0  # idempotent
    actions = list(
        AuditEvent.objects.filter(action__startswith="visit_pattern.").values_list(
            "action", flat=True
        )
    )
    assert actions == [
        "visit_pattern.create",
        "visit_pattern.end",
        "visit_pattern.create",
        "visit_pattern.end",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"weekdays": []},
        {"weekdays": [7]},
        {"start_time": "23:50", "minutes": 30},
        {"minutes": 0},
        {"minutes": 10**20},
        {"starts_on": "0001-01-01"},
        {"ends_on": "2026-03-01"},
        {"start_time": "08:00+01:00"},
        {"extra": 1},
    ],
)
def test_odd_patterns_are_refused_with_nothing_written(cast, bad):
    c = Client()
    c.force_login(cast.carol.user)
    body = pin(cast).model_dump(mode="json") | bad
    r = c.post(
        f"/api/planning/service-users/{cast.peggy.id}/patterns",
        json.dumps(body),
        content_type="application/json",
    )
    assert r.status_code == 422, r.content
    assert not VisitPattern.objects.exists()


def test_pattern_access_across_providers_and_councils_is_one_404(cast):
    p = check_create_pattern(cast.carol, cast.peggy.id, pin(cast), now=T0)
    body = json.dumps(pin(cast).model_dump(mode="json"))
    bodies = set()
    for role, who in cast.everyone().items():
        if who.user_id is None:
            continue
        c = Client()
        c.force_login(who.user)
        calls = [
            c.get(f"/api/planning/service-users/{cast.peggy.id}/patterns"),
            c.post(
                f"/api/planning/service-users/{cast.peggy.id}/patterns",
                body,
                content_type="application/json",
            ),
            c.post(f"/api/planning/patterns/{p.id}/end"),
            c.get(f"/people/{cast.peggy.id}/manage/patterns/"),
        ]
        for r in calls:
            if role == "care_manager":
                assert r.status_code in (200, 201), r.content
            else:
                assert r.status_code == 404, (role, r.status_code)
                if r["Content-Type"].startswith("application/json"):
                    bodies.add(r.content)
    assert len(bodies) == 1
    # a worker of another provider cannot be put on Peggy's pattern
    c = Client()
    c.force_login(cast.carol.user)
    r = c.post(
        f"/api/planning/service-users/{cast.peggy.id}/patterns",
        json.dumps(pin(cast, worker_id=cast.other_worker.id).model_dump(mode="json")),
        content_type="application/json",
    )
    assert r.status_code == 422


def test_the_page_creates_and_ends_a_pattern(cast, frozen_clock):
    c = Client()
    c.force_login(cast.carol.user)
    url = f"/people/{cast.peggy.id}/manage/patterns/"
    r = c.post(
        url,
        {
            "worker": cast.anna.id,
            "weekdays": ["1", "3"],
            "start_time": "09:30",
            "minutes": "45",
            "visit_type": "Lunch",
            "starts_on": "2026-03-02",
        },
    )
    assert r.status_code == 302
    p = VisitPattern.objects.get()
    assert (p.weekdays, p.minutes, p.visit_type) == ("13", 45, "Lunch")
    r = c.post(
        url,
        {"worker": cast.anna.id, "start_time": "09:30", "minutes": "45", "starts_on": "2026-03-02"},
    )
    assert "weekdays" in r.content.decode() and VisitPattern.objects.count() == 1
    page = c.get(url).content.decode()
    assert "Tue, Thu" in page and "Lunch" in page
    c.post(f"{url}{p.id}/end")
    p.refresh_from_db()
    assert p.ended_at is not None


def test_health_reports_a_pattern_not_planned_ahead(cast):
    p = check_create_pattern(cast.carol, cast.peggy.id, pin(cast), now=T0)
    grace = Thresholds().grace
    assert list(overdue_patterns(T0 + grace * 2, grace)) == [p]  # the ticker has not run
    PatternTicker().run_once(T0)
    assert list(overdue_patterns(T0 + grace * 2, grace)) == []
    # a day later without a tick: behind again
    assert list(overdue_patterns(T0 + dt.timedelta(days=1) + grace * 2, grace)) == [p]
