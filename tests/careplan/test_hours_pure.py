"""Delivered time, pay and travel rules without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from careplan.hours import (
    HoursRules,
    PlannedFacts,
    VisitFacts,
    commissioned_minutes,
    minutes_between,
    person_totals,
    visit_hours,
    worker_totals,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MIN = dt.timedelta(minutes=1)
SEC = dt.timedelta(seconds=1)
DAY0 = T0.date()
HOME_A = {"lat": 53.4808, "lon": -2.2426}
HOME_B = {"lat": 53.4900, "lon": -2.2426}  # ~1.02 km north of A


def visit(
    vid,
    *,
    worker=1,
    su=1,
    start=0,
    minutes=30,
    planned=30,
    seconds=0,
    out=True,
    pin=None,
    pout=None,
) -> VisitFacts:
    cin = T0 + start * MIN
    return VisitFacts(
        visit_id=vid,
        worker_id=worker,
        service_user_id=su,
        checked_in_at=cin,
        checked_out_at=cin + minutes * MIN + seconds * SEC if out else None,
        planned_minutes=planned,
        checkin_at=pin,
        checkout_at=pout,
    )


def one(v: VisitFacts, rules: HoursRules | None = None):
    [h] = visit_hours([v], rules)
    return h


def test_rounding_to_the_nearest_minute_and_never_negative():
    assert minutes_between(T0, T0 + 29 * MIN + 29 * SEC) == 29
    assert minutes_between(T0, T0 + 29 * MIN + 30 * SEC) == 30
    assert minutes_between(T0, T0 - 5 * MIN) == 0


def test_within_tolerance_is_delivered_and_paid_in_full():
    h = one(visit(1, minutes=26))  # 4 minutes short of 30, tolerance 5
    assert (h.actual_minutes, h.delivered_minutes, h.pay_minutes, h.cut_short) == (
        26,
        30,
        30,
        False,
    )


def test_an_overrun_is_paid_as_worked_but_delivered_only_as_planned():
    h = one(visit(1, minutes=45))
    assert (h.actual_minutes, h.delivered_minutes, h.pay_minutes) == (45, 30, 45)


def test_a_visit_cut_short_counts_what_was_worked_and_is_marked():
    h = one(visit(1, minutes=12))
    assert (h.delivered_minutes, h.pay_minutes, h.cut_short) == (12, 12, True)
    strict = one(visit(1, minutes=26), HoursRules(tolerance_minutes=0))
    assert (strict.delivered_minutes, strict.cut_short) == (26, True)


def test_an_unplanned_visit_counts_as_worked_and_an_open_one_counts_nothing():
    h = one(visit(1, minutes=20, planned=None))
    assert (h.delivered_minutes, h.pay_minutes, h.cut_short) == (20, 20, False)
    h = one(visit(1, out=False))
    assert (h.open, h.actual_minutes, h.delivered_minutes, h.pay_minutes) == (True, 0, 0, 0)


def test_two_carer_visit_counts_once_for_the_person_and_twice_for_pay():
    hs = visit_hours([visit(1, worker=1, minutes=30), visit(2, worker=2, start=2, minutes=30)])
    assert [h.two_carer for h in hs] == [True, True]
    assert {h.group for h in hs} == {1}
    # Union 08:00-08:32 = 32 minutes, within tolerance of the 30 planned: 30 for the person.
    assert sum(h.delivered_minutes for h in hs) == 30
    assert sum(h.pay_minutes for h in hs) == 60
    totals = person_totals(hs, [], {1: Decimal("7")}, DAY0, DAY0)
    assert (totals[1].visits, totals[1].delivered_minutes, totals[1].two_carer_visits) == (1, 30, 1)


def test_visits_that_overlap_across_local_midnight_are_not_one_group():
    # 23:50-00:20 and 00:05-00:35 (GMT): overlapping, but checked in on different local
    # days — each day is computed (and stored) on its own, so they stay apart.
    a = visit(1, worker=1, start=15 * 60 + 50, minutes=30)
    b = visit(2, worker=2, start=16 * 60 + 5, minutes=30)
    ha, hb = visit_hours([a, b])
    assert (ha.two_carer, hb.two_carer) == (False, False)
    assert (ha.delivered_minutes, hb.delivered_minutes) == (30, 30)


def test_the_same_worker_twice_or_visits_that_do_not_overlap_are_not_two_carer():
    hs = visit_hours([visit(1, worker=1), visit(2, worker=2, start=30)])
    assert [h.two_carer for h in hs] == [False, False]
    assert sum(h.delivered_minutes for h in hs) == 60


def test_travel_from_the_previous_check_out_the_same_day_by_positions():
    hs = visit_hours(
        [
            visit(1, su=1, start=0, minutes=30, pout=HOME_A),
            visit(2, su=2, start=42, minutes=30, pin=HOME_B),
            visit(3, su=3, start=90, minutes=30),  # no check-in position: distance unknown
            visit(4, su=1, start=24 * 60, minutes=30, pin=HOME_A),  # next day: no travel
        ]
    )
    by = {h.visit_id: h for h in hs}
    assert by[1].travel_minutes is None
    assert by[2].travel_minutes == 12 and 1.0 < by[2].travel_km < 1.05
    assert (by[3].travel_minutes, by[3].travel_km) == (18, None)
    assert by[4].travel_minutes is None
    t = worker_totals(hs, DAY0, DAY0)[1]
    assert (t.visits, t.travel_minutes, t.travel_legs_without_distance) == (3, 30, 1)
    assert t.travel_km == by[2].travel_km


def test_a_long_break_is_not_travel():
    hs = visit_hours([visit(1, minutes=30), visit(2, su=2, start=30 + 241)])
    assert hs[1].travel_minutes is None


def test_council_totals_commissioned_planned_delivered_per_person():
    planned = [
        PlannedFacts(
            planned_visit_id=1, service_user_id=1, worker_id=1, window_start=T0, expected_minutes=30
        ),
        PlannedFacts(
            planned_visit_id=2, service_user_id=1, worker_id=2, window_start=T0, expected_minutes=30
        ),  # the second carer of the same slot
        PlannedFacts(
            planned_visit_id=3,
            service_user_id=1,
            worker_id=1,
            window_start=T0 + 8 * 60 * MIN,
            expected_minutes=45,
        ),
        PlannedFacts(
            planned_visit_id=4,
            service_user_id=1,
            worker_id=1,
            window_start=T0 + 7 * 24 * 60 * MIN,
            expected_minutes=45,
        ),  # after
    ]
    hs = visit_hours([visit(1, minutes=31), visit(2, start=480, minutes=20, planned=45)])
    t = person_totals(hs, planned, {1: Decimal("10.5"), 2: 0}, DAY0, DAY0 + dt.timedelta(6))
    assert t[1].model_dump() == {
        "service_user_id": 1,
        "commissioned_minutes": 630,
        "planned_visits": 2,
        "planned_minutes": 75,
        "visits": 2,
        "delivered_minutes": 50,
        "cut_short": 1,
        "two_carer_visits": 0,
    }
    assert t[2].delivered_minutes == 0 and t[2].commissioned_minutes == 0
    assert commissioned_minutes(Decimal("7"), DAY0, DAY0) == 60


visit_st = st.builds(
    dict,
    worker=st.integers(1, 3),
    su=st.integers(1, 2),
    start=st.integers(-60, 600),
    minutes=st.integers(-30, 120),
    seconds=st.integers(0, 59),
    planned=st.one_of(st.none(), st.integers(0, 90)),
    out=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(specs=st.lists(visit_st, max_size=12), tolerance=st.integers(0, 15))
def test_delivered_and_paid_minutes_are_never_negative(specs, tolerance):
    rules = HoursRules(tolerance_minutes=tolerance)
    hs = visit_hours([visit(i + 1, **s) for i, s in enumerate(specs)], rules)
    assert len(hs) == len(specs)
    for h in hs:
        assert h.actual_minutes >= 0 and h.pay_minutes >= 0 and h.delivered_minutes >= 0
        assert h.travel_minutes is None or h.travel_minutes >= 0
    for t in person_totals(
        hs, [], {1: 1, 2: 1}, DAY0 - dt.timedelta(1), DAY0 + dt.timedelta(1)
    ).values():
        assert t.delivered_minutes >= 0


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 600),
    minutes=st.integers(0, 120),
    lag=st.integers(0, 5),
    planned=st.one_of(st.none(), st.integers(1, 90)),
    tolerance=st.integers(0, 15),
)
def test_a_two_carer_visit_is_counted_once_for_the_person_and_twice_for_pay(
    start, minutes, lag, planned, tolerance
):
    """Two workers at one person's home for the same visit (the second arriving up to five
    minutes later, leaving together): the person is credited what one visit of the group's
    length is; each worker is paid for their own visit."""
    rules = HoursRules(tolerance_minutes=tolerance)
    lag = min(lag, max(minutes - 1, 0))
    a = visit(1, worker=1, start=start, minutes=minutes, planned=planned)
    b = visit(2, worker=2, start=start + lag, minutes=minutes - lag, planned=planned)
    pair = visit_hours([a, b], rules)
    alone_a = one(a, rules)
    alone_b = one(
        visit(2, worker=2, start=start + lag, minutes=minutes - lag, planned=planned), rules
    )
    overlapping = minutes - lag > 0
    if overlapping:
        assert sum(h.delivered_minutes for h in pair) == alone_a.delivered_minutes
        person = person_totals(pair, [], {1: 0}, DAY0 - dt.timedelta(1), DAY0 + dt.timedelta(1))
        assert person[1].visits == 1
    assert sum(h.pay_minutes for h in pair) == alone_a.pay_minutes + alone_b.pay_minutes
    assert sorted(worker_totals(pair, DAY0 - dt.timedelta(1), DAY0 + dt.timedelta(1))) == [1, 2]
