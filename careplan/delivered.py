"""Delivered time, stored: the one computation behind the exports and the dashboards.

``careplan.hours.visit_hours`` (the pure rules) is applied to whole local days and its
result is kept per visit in ``careplan.models.VisitMinutes``. Everything that reports
delivered or paid time reads those rows: the payroll and council exports
(``careplan.exports``), the dashboards' live figures and their daily rollups
(``web.dashboards.queries`` / ``rollup``). So a council's delivered hours in the export
and on the dashboard are the same numbers, not two computations that agree by luck.

Guarantees:

- **Unit of computation: a local day.** Two-carer groups and travel legs are formed
  within the local day of check-in (docs/visit-record.md "Hours and travel"). A visit's
  change can alter the rows of that day's visits of its person (the group) and of its
  worker (travel); those are rewritten, each computed with the whole day of its own
  person and worker (:func:`recompute`), so no row is written from partial context.
- **Idempotent on the visit.** One row per visit (unique ``visit``); rows are written
  with an upsert (``bulk_create(update_conflicts=True)``), and the values depend only on
  the stored visits — two writers racing write the same figures; a replay changes
  nothing.
- **Fresh before read.** :func:`sync` finds, in one query, the visits of a queryset
  whose row is missing or was computed from other inputs (check-in, check-out, worker,
  planned minutes) and recomputes their days. Writers: the ``careplan`` log consumer on
  the visit bot's check-in/check-out entries (low latency), and every reader (exports,
  dashboards, rollups) for the visits it is about to read — visits imported or created
  without the bot (synthetic history) are covered too.
- No locks beyond the upsert's own; no health data (minutes and ids only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import BooleanField, Case, F, Q, QuerySet, Value, When

from bots.models import Visit
from careplan import hours
from careplan.common import LOCAL_TZ, local_date
from careplan.models import VisitMinutes
from careplan.store import visit_facts

FIELDS = [
    "worker",
    "day",
    "checked_in_at",
    "checked_out_at",
    "planned_minutes",
    "actual_minutes",
    "pay_minutes",
    "delivered_minutes",
    "cut_short",
    "open",
    "two_carer",
    "group_visit_id",
    "travel_minutes",
    "travel_km",
    "computed_at",
]


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    since = dt.datetime.combine(day, dt.time(), LOCAL_TZ)
    return since, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), LOCAL_TZ)


def _day_visits(day: dt.date, people: set[int], workers: set[int]) -> list[Visit]:
    since, until = day_bounds(day)
    return list(
        Visit.objects.filter(
            Q(service_user_id__in=people) | Q(worker_id__in=workers),
            checked_in_at__gte=since,
            checked_in_at__lt=until,
        )
        .select_related("planned_visit")
        .order_by("checked_in_at", "id")
    )


def recompute(visits: Iterable[Visit], now: dt.datetime) -> int:
    """Recompute and store the rows the given visits' figures can change; returns the
    number of rows written.

    Per local day: the rows written are every visit that day of a seed's person (its
    two-carer group and the group's credit) or of a seed's worker (travel legs to and
    from it); they are computed over those visits *plus* the whole day of each of their
    people and workers, so every written row sees its complete group and travel context.
    """
    seeds: dict[dt.date, tuple[set[int], set[int]]] = {}
    for v in visits:
        people, workers = seeds.setdefault(local_date(v.checked_in_at), (set(), set()))
        people.add(v.service_user_id)
        workers.add(v.worker_id)
    written = 0
    for day, (people, workers) in sorted(seeds.items()):
        write = _day_visits(day, people, workers)
        context = _day_visits(day, {v.service_user_id for v in write}, {v.worker_id for v in write})
        mine = {v.pk for v in write}
        rows = [
            VisitMinutes(
                visit_id=h.visit_id,
                worker_id=h.worker_id,
                day=h.day,
                checked_in_at=h.checked_in_at,
                checked_out_at=h.checked_out_at,
                planned_minutes=h.planned_minutes,
                actual_minutes=h.actual_minutes,
                pay_minutes=h.pay_minutes,
                delivered_minutes=h.delivered_minutes,
                cut_short=h.cut_short,
                open=h.open,
                two_carer=h.two_carer,
                group_visit_id=h.group,
                travel_minutes=h.travel_minutes,
                travel_km=h.travel_km,
                computed_at=now,
            )
            for h in hours.visit_hours(visit_facts(context))
            if h.visit_id in mine
        ]
        VisitMinutes.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["visit"],
            update_fields=FIELDS,
        )
        written += len(rows)
    return written


# A row is current when it was computed from the visit's present inputs.
CURRENT = (
    Q(minutes__checked_in_at=F("checked_in_at"))
    & Q(minutes__worker_id=F("worker_id"))
    & (
        Q(checked_out_at__isnull=True, minutes__checked_out_at__isnull=True)
        | Q(minutes__checked_out_at=F("checked_out_at"))
    )
    & (
        Q(planned_visit__isnull=True, minutes__planned_minutes__isnull=True)
        | Q(minutes__planned_minutes=F("planned_visit__expected_minutes"))
    )
)


def stale(qs: QuerySet[Visit]) -> QuerySet[Visit]:
    """The visits of ``qs`` without a current row (one query, left joins only)."""
    return qs.annotate(
        _current=Case(
            When(CURRENT, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
    ).filter(_current=False)


def sync(qs: QuerySet[Visit], now: dt.datetime) -> int:
    """Make every visit of ``qs`` have a current row; returns the rows written."""
    todo = list(stale(qs).only("id", "service_user_id", "worker_id", "checked_in_at"))
    return recompute(todo, now) if todo else 0


def as_hours(row: VisitMinutes, service_user_id: int) -> hours.VisitHours:
    return hours.VisitHours(
        visit_id=row.visit_id,
        worker_id=row.worker_id,
        service_user_id=service_user_id,
        day=row.day,
        checked_in_at=row.checked_in_at,
        checked_out_at=row.checked_out_at,
        planned_minutes=row.planned_minutes,
        actual_minutes=row.actual_minutes,
        pay_minutes=row.pay_minutes,
        delivered_minutes=row.delivered_minutes,
        cut_short=row.cut_short,
        open=row.open,
        two_carer=row.two_carer,
        group=row.group_visit_id,
        travel_minutes=row.travel_minutes,
        travel_km=row.travel_km,
    )


def read(qs: QuerySet[Visit], now: dt.datetime) -> list[hours.VisitHours]:
    """The stored figures of the visits of ``qs`` (synced first), ordered by check-in."""
    sync(qs, now)
    rows = VisitMinutes.objects.filter(visit__in=qs.values("id")).annotate(
        su=F("visit__service_user_id")
    )
    return sorted(
        (as_hours(r, r.su) for r in rows),
        key=lambda h: (h.checked_in_at, h.visit_id),
    )
