"""Delivered time and travel: pure rules (docs/visit-record.md "Hours and travel").

Rules, in order of application:

1. **Rounding.** A visit's *actual* minutes are check-out minus check-in rounded to the
   nearest minute (30 s rounds up); never negative (a phone clock that went backwards
   gives 0). A visit never checked out is *open*: 0 minutes until it is.
2. **Tolerance.** A planned visit that ends within ``tolerance_minutes`` (default 5) of
   its planned length counts as delivered in full (the planned minutes) and is paid in
   full; an overrun is paid as worked but delivered (billed to the council) only up to
   the planned length.
3. **Cut short.** Shorter than planned by more than the tolerance: delivered and paid as
   actually worked, and marked ``cut_short``.
4. **Two-carer visits.** Visits to the same person by different workers whose times
   overlap and who checked in on the same local day form one group: the person's
   delivered time is the group's *union* of time (under rules 1–3 against the group's
   planned length) counted **once**, credited to the group's first visit; each worker is
   **paid** for their own visit (counted twice).
5. **Travel.** For each visit, the time and straight-line (haversine) distance from the
   same worker's previous check-out on the same local day, if that was at most
   ``max_travel_gap_minutes`` (default 240, the bots' own rule) earlier — by the check-out
   and check-in positions only (no tracking). Without both positions the distance is
   unknown (blank), never guessed.
6. **Periods** are whole local (Europe/London) days; a visit belongs to the day of its
   check-in, a planned visit to the day its window starts. Commissioned minutes for a
   period are the weekly commissioned hours × 60 × days / 7.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import Field

from bots.geo import haversine_m
from careplan.common import Strict, local_date


class Point(Strict):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class HoursRules(Strict):
    tolerance_minutes: int = Field(5, ge=0, le=60)
    max_travel_gap_minutes: int = Field(240, ge=0, le=24 * 60)


class VisitFacts(Strict):
    """What the hours rules read from a visit: times and the two positions, nothing else."""

    visit_id: int
    worker_id: int
    service_user_id: int
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None = None
    checkin_at: Point | None = None
    checkout_at: Point | None = None
    planned_minutes: int | None = Field(None, ge=0)


class PlannedFacts(Strict):
    planned_visit_id: int
    service_user_id: int
    worker_id: int
    window_start: dt.datetime
    expected_minutes: int = Field(ge=0)


class VisitHours(Strict):
    visit_id: int
    worker_id: int
    service_user_id: int
    day: dt.date
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    planned_minutes: int | None
    actual_minutes: int
    pay_minutes: int
    delivered_minutes: int  # the person's share: 0 for the second carer of a group
    cut_short: bool
    open: bool
    two_carer: bool
    group: int  # the visit id the group's delivered time is credited to
    travel_minutes: int | None = None
    travel_km: float | None = None


def minutes_between(start: dt.datetime, end: dt.datetime) -> int:
    """Whole minutes, 30 s rounding up; 0 if ``end`` is before ``start``."""
    seconds = int((end - start).total_seconds())
    return max(0, (seconds + 30) // 60)


def within_tolerance(actual: int, planned: int, rules: HoursRules) -> bool:
    return actual >= planned - rules.tolerance_minutes


def delivered_for(actual: int, planned: int | None, rules: HoursRules) -> int:
    """Minutes credited to the person (what the council pays for)."""
    if planned is None:
        return actual
    return planned if within_tolerance(actual, planned, rules) else min(actual, planned)


def pay_for(actual: int, planned: int | None, rules: HoursRules) -> int:
    """Minutes paid to the worker for the visit itself (travel is separate)."""
    if planned is None:
        return actual
    return max(actual, planned) if within_tolerance(actual, planned, rules) else actual


def _union_minutes(spans: list[tuple[dt.datetime, dt.datetime]]) -> int:
    total = dt.timedelta()
    current: tuple[dt.datetime, dt.datetime] | None = None  # the merged span being grown
    for s, e in sorted(spans):
        e = max(e, s)
        if current is None or s > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (s, e)
        else:
            current = (current[0], max(current[1], e))
    if current is not None:
        total += current[1] - current[0]
    return minutes_between(
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + total
    )


def _groups(visits: list[VisitFacts]) -> dict[int, list[VisitFacts]]:
    """Two-carer groups: closed visits to one person by different workers that overlap
    (checked in on the same local day: a day is the unit ``careplan.delivered`` stores).

    Keyed by the leader's visit id (earliest check-in, then lowest id). Open visits and
    visits alone are groups of one.
    """
    order = {v.visit_id: (v.checked_in_at, v.visit_id) for v in visits}
    parent = {v.visit_id: v.visit_id for v in visits}

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    # closed visits only, each with its check-out time (so the comparisons need no None)
    by_person: dict[int, list[tuple[VisitFacts, dt.datetime]]] = {}
    for v in visits:
        if v.checked_out_at is not None:
            by_person.setdefault(v.service_user_id, []).append((v, v.checked_out_at))
    for vs in by_person.values():
        vs.sort(key=lambda pair: order[pair[0].visit_id])
        for i, (a, a_out) in enumerate(vs):
            for b, b_out in vs[i + 1 :]:
                if b.checked_in_at >= a_out:
                    break  # sorted by check-in: no later visit overlaps ``a`` either
                if (
                    a.worker_id != b.worker_id
                    and b_out > a.checked_in_at
                    and local_date(a.checked_in_at) == local_date(b.checked_in_at)
                ):
                    ra, rb = sorted((root(a.visit_id), root(b.visit_id)), key=lambda x: order[x])
                    parent[rb] = ra
    groups: dict[int, list[VisitFacts]] = {}
    for v in visits:
        groups.setdefault(root(v.visit_id), []).append(v)
    return groups


def _travel(visits: list[VisitFacts], rules: HoursRules) -> dict[int, tuple[int, float | None]]:
    out: dict[int, tuple[int, float | None]] = {}
    by_worker: dict[int, list[VisitFacts]] = {}
    for v in visits:
        by_worker.setdefault(v.worker_id, []).append(v)
    gap = dt.timedelta(minutes=rules.max_travel_gap_minutes)
    for vs in by_worker.values():
        closed = [(v, v.checked_out_at) for v in vs if v.checked_out_at is not None]
        for v in vs:
            prev = [
                (p, p_out)
                for p, p_out in closed
                if p.visit_id != v.visit_id
                and p_out <= v.checked_in_at
                and local_date(p_out) == local_date(v.checked_in_at)
                and v.checked_in_at - p_out <= gap
            ]
            if not prev:
                continue
            p, p_out = max(prev, key=lambda pair: (pair[1], pair[0].visit_id))
            km = None
            if p.checkout_at is not None and v.checkin_at is not None:
                km = round(
                    haversine_m(
                        p.checkout_at.lat, p.checkout_at.lon, v.checkin_at.lat, v.checkin_at.lon
                    )
                    / 1000,
                    2,
                )
            out[v.visit_id] = (minutes_between(p_out, v.checked_in_at), km)
    return out


def visit_hours(visits: list[VisitFacts], rules: HoursRules | None = None) -> list[VisitHours]:
    """Every visit's planned, actual, paid and delivered minutes and its travel.

    Pass all of a worker's visits of a day for travel to be complete (the exports pass
    whole days). Ordered by check-in.
    """
    rules = rules or HoursRules()
    groups = _groups(visits)
    travel = _travel(visits, rules)
    out = []
    for lead, members in groups.items():
        two = len(members) > 1
        closed = [
            (m.checked_in_at, m.checked_out_at) for m in members if m.checked_out_at is not None
        ]
        planned_group = max(
            (m.planned_minutes for m in members if m.planned_minutes is not None), default=None
        )
        union = _union_minutes(closed)
        group_delivered = delivered_for(union, planned_group, rules) if closed else 0
        for m in members:
            end = m.checked_out_at
            is_open = end is None
            actual = 0 if end is None else minutes_between(m.checked_in_at, end)
            pay = 0 if is_open else pay_for(actual, m.planned_minutes, rules)
            basis = union if two else actual
            cut = (
                not is_open
                and planned_group is not None
                and not within_tolerance(basis, planned_group, rules)
            )
            t = travel.get(m.visit_id)
            out.append(
                VisitHours(
                    visit_id=m.visit_id,
                    worker_id=m.worker_id,
                    service_user_id=m.service_user_id,
                    day=local_date(m.checked_in_at),
                    checked_in_at=m.checked_in_at,
                    checked_out_at=m.checked_out_at,
                    planned_minutes=m.planned_minutes,
                    actual_minutes=actual,
                    pay_minutes=pay,
                    delivered_minutes=group_delivered if m.visit_id == lead else 0,
                    cut_short=cut,
                    open=is_open,
                    two_carer=two,
                    group=lead,
                    travel_minutes=t[0] if t else None,
                    travel_km=t[1] if t else None,
                )
            )
    return sorted(out, key=lambda h: (h.checked_in_at, h.visit_id))


# ---- period totals ------------------------------------------------------------------------


class WorkerTotals(Strict):
    worker_id: int
    visits: int
    open_visits: int
    two_carer_visits: int
    actual_minutes: int
    pay_minutes: int
    travel_minutes: int
    travel_km: float
    travel_legs_without_distance: int


def in_period(day: dt.date, start: dt.date, end: dt.date) -> bool:
    return start <= day <= end


def worker_totals(hours: list[VisitHours], start: dt.date, end: dt.date) -> dict[int, WorkerTotals]:
    """Pay-period totals per worker over visits checked in on ``start``..``end``."""
    acc: dict[int, dict[str, Any]] = {}
    for h in hours:
        if not in_period(h.day, start, end):
            continue
        a = acc.setdefault(
            h.worker_id,
            {
                "visits": 0,
                "open_visits": 0,
                "two_carer_visits": 0,
                "actual_minutes": 0,
                "pay_minutes": 0,
                "travel_minutes": 0,
                "travel_km": 0.0,
                "travel_legs_without_distance": 0,
            },
        )
        a["visits"] += 1
        a["open_visits"] += h.open
        a["two_carer_visits"] += h.two_carer
        a["actual_minutes"] += h.actual_minutes
        a["pay_minutes"] += h.pay_minutes
        if h.travel_minutes is not None:
            a["travel_minutes"] += h.travel_minutes
            if h.travel_km is None:
                a["travel_legs_without_distance"] += 1
            else:
                a["travel_km"] += h.travel_km
    return {
        w: WorkerTotals(worker_id=w, **{**a, "travel_km": round(a["travel_km"], 2)})
        for w, a in acc.items()
    }


class PersonTotals(Strict):
    service_user_id: int
    commissioned_minutes: int
    planned_visits: int
    planned_minutes: int
    visits: int  # delivered visits, a two-carer visit once
    delivered_minutes: int
    cut_short: int
    two_carer_visits: int


def planned_minutes(planned: list[PlannedFacts]) -> dict[int, tuple[int, int]]:
    """Per person: (planned visits, planned minutes), a two-carer slot (two planned visits
    at the same start for different workers) counted once at its longest length."""
    slots: dict[tuple[int, dt.datetime], int] = {}
    for p in planned:
        key = (p.service_user_id, p.window_start)
        slots[key] = max(slots.get(key, 0), p.expected_minutes)
    out: dict[int, tuple[int, int]] = {}
    for (su, _), minutes in slots.items():
        n, m = out.get(su, (0, 0))
        out[su] = (n + 1, m + minutes)
    return out


def commissioned_minutes(hours_per_week: Decimal | float, start: dt.date, end: dt.date) -> int:
    days = (end - start).days + 1
    exact = Decimal(str(hours_per_week)) * 60 * days / 7
    return max(0, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def person_totals(
    hours: list[VisitHours],
    planned: list[PlannedFacts],
    commissioned: dict[int, Decimal | float],
    start: dt.date,
    end: dt.date,
) -> dict[int, PersonTotals]:
    """Council period totals per person: commissioned vs planned vs delivered minutes.

    ``commissioned`` names the people to report (weekly hours each); visits and planned
    visits of anyone else are ignored.
    """
    plan = planned_minutes(
        [p for p in planned if in_period(local_date(p.window_start), start, end)]
    )
    out = {}
    for su, weekly in commissioned.items():
        mine = [h for h in hours if h.service_user_id == su and in_period(h.day, start, end)]
        leads = [h for h in mine if h.visit_id == h.group and not h.open]
        n_planned, m_planned = plan.get(su, (0, 0))
        out[su] = PersonTotals(
            service_user_id=su,
            commissioned_minutes=commissioned_minutes(weekly, start, end),
            planned_visits=n_planned,
            planned_minutes=m_planned,
            visits=len(leads),
            delivered_minutes=sum(h.delivered_minutes for h in mine),
            cut_short=sum(1 for h in leads if h.cut_short),
            two_carer_visits=sum(1 for h in leads if h.two_carer),
        )
    return out
