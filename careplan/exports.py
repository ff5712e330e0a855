"""Pay-period and council-period exports: the stored per-visit figures, summed.

Per-visit figures are the rows of ``careplan.delivered`` (the hours rules applied per
local day, the same rows the dashboards read), synced before reading; totals are
:func:`careplan.hours.worker_totals` / ``person_totals`` over them (tests read the CSV
back and compare with the rules and with the dashboards). CSVs are
UTF-8 with a header row, one record per line, numbers as plain decimals; a text cell a
spreadsheet would run as a formula (``= + - @``) is prefixed with ``'``.

- **Payroll** (per worker): one row per visit checked in during the period, then one
  ``TOTAL`` row (minutes and kilometres summed; ``two_carer`` and ``open`` counted);
  people are named by their record id only (payroll needs no names).
- **Council** (per council, by a provider's care manager): one row per person of the
  provider funded by that council — commissioned vs planned vs delivered minutes and
  hours — then a ``TOTAL`` row. The finance-portal hand-off.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from pydantic import model_validator

from bots.models import PlannedVisit, Visit
from careplan import delivered, hours
from careplan.common import LOCAL_TZ, Strict
from careplan.store import planned_facts
from rooms.bounds import BoundedDate, Id
from rooms.models import Organisation, Person, ServiceUser

MAX_PERIOD_DAYS = 93  # a quarter


class Period(Strict):
    start: BoundedDate
    end: BoundedDate

    @model_validator(mode="after")
    def _ordered_and_short(self) -> Period:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if (self.end - self.start).days >= MAX_PERIOD_DAYS:
            raise ValueError(f"a period is at most {MAX_PERIOD_DAYS} days")
        return self

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), LOCAL_TZ)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), LOCAL_TZ)


class ExportTarget(Strict):
    id: Id


def _cell(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def to_csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_cell(x) for x in r])
    return buf.getvalue()


def hours_of(minutes: int) -> str:
    return f"{minutes / 60:.2f}"


def _local(at: dt.datetime | None) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if at else ""


# ---- payroll ------------------------------------------------------------------------------

PAYROLL_HEADER = [
    "worker_id",
    "worker",
    "date",
    "visit_id",
    "service_user_id",
    "check_in",
    "check_out",
    "planned_minutes",
    "actual_minutes",
    "pay_minutes",
    "two_carer",
    "cut_short",
    "open",
    "travel_minutes",
    "travel_km",
]


def payroll(
    worker: Person, period: Period, now: dt.datetime
) -> tuple[list[hours.VisitHours], hours.WorkerTotals]:
    """The worker's visits in the period (stored figures, two-carer groups and travel
    already formed per day with everyone's visits), and their totals."""
    rows = delivered.read(
        Visit.objects.filter(
            worker=worker, checked_in_at__gte=period.since, checked_in_at__lt=period.until
        ),
        now,
    )
    totals = hours.worker_totals(rows, period.start, period.end).get(
        worker.pk
    ) or hours.WorkerTotals(
        worker_id=worker.pk,
        visits=0,
        open_visits=0,
        two_carer_visits=0,
        actual_minutes=0,
        pay_minutes=0,
        travel_minutes=0,
        travel_km=0.0,
        travel_legs_without_distance=0,
    )
    return rows, totals


def payroll_csv(worker: Person, period: Period, now: dt.datetime) -> str:
    rows, t = payroll(worker, period, now)
    out = [
        [
            worker.pk,
            worker.display_name,
            h.day.isoformat(),
            h.visit_id,
            h.service_user_id,
            _local(h.checked_in_at),
            _local(h.checked_out_at),
            h.planned_minutes,
            h.actual_minutes,
            h.pay_minutes,
            h.two_carer,
            h.cut_short,
            h.open,
            h.travel_minutes,
            h.travel_km,
        ]
        for h in rows
    ]
    out.append(
        [
            worker.pk,
            worker.display_name,
            "TOTAL",
            "",
            "",
            "",
            "",
            "",
            t.actual_minutes,
            t.pay_minutes,
            t.two_carer_visits,
            "",
            t.open_visits,
            t.travel_minutes,
            t.travel_km,
        ]
    )
    return to_csv(PAYROLL_HEADER, out)


# ---- council ------------------------------------------------------------------------------

COUNCIL_HEADER = [
    "council",
    "provider",
    "service_user_id",
    "name",
    "period_start",
    "period_end",
    "commissioned_minutes",
    "planned_visits",
    "planned_minutes",
    "delivered_visits",
    "delivered_minutes",
    "commissioned_hours",
    "planned_hours",
    "delivered_hours",
    "cut_short_visits",
    "two_carer_visits",
]


def council_totals(
    provider: Organisation, council: Organisation, period: Period, now: dt.datetime
) -> list[tuple[ServiceUser, hours.PersonTotals]]:
    """Per person of ``provider`` funded by ``council``: the period's totals."""
    people = list(
        ServiceUser.objects.filter(provider=provider, council=council).order_by("full_name", "id")
    )
    ids = [p.pk for p in people]
    visits = Visit.objects.filter(
        service_user_id__in=ids, checked_in_at__gte=period.since, checked_in_at__lt=period.until
    )
    planned = PlannedVisit.objects.filter(
        service_user_id__in=ids,
        status=PlannedVisit.Status.PLANNED,
        window_start__gte=period.since,
        window_start__lt=period.until,
    )
    totals = hours.person_totals(
        delivered.read(visits, now),
        planned_facts(planned),
        {p.pk: p.commissioned_hours_per_week for p in people},
        period.start,
        period.end,
    )
    return [(p, totals[p.pk]) for p in people]


def council_csv(
    provider: Organisation, council: Organisation, period: Period, now: dt.datetime
) -> str:
    rows = []
    sums = dict.fromkeys(("c", "pv", "p", "dv", "d", "cut", "two"), 0)
    for su, t in council_totals(provider, council, period, now):
        rows.append(
            [
                council.name,
                provider.name,
                su.pk,
                su.full_name,
                period.start.isoformat(),
                period.end.isoformat(),
                t.commissioned_minutes,
                t.planned_visits,
                t.planned_minutes,
                t.visits,
                t.delivered_minutes,
                hours_of(t.commissioned_minutes),
                hours_of(t.planned_minutes),
                hours_of(t.delivered_minutes),
                t.cut_short,
                t.two_carer_visits,
            ]
        )
        for k, v in zip(
            sums,
            (
                t.commissioned_minutes,
                t.planned_visits,
                t.planned_minutes,
                t.visits,
                t.delivered_minutes,
                t.cut_short,
                t.two_carer_visits,
            ),
            strict=True,
        ):
            sums[k] += v
    rows.append(
        [
            council.name,
            provider.name,
            "TOTAL",
            "",
            period.start.isoformat(),
            period.end.isoformat(),
            sums["c"],
            sums["pv"],
            sums["p"],
            sums["dv"],
            sums["d"],
            hours_of(sums["c"]),
            hours_of(sums["p"]),
            hours_of(sums["d"]),
            sums["cut"],
            sums["two"],
        ]
    )
    return to_csv(COUNCIL_HEADER, rows)
