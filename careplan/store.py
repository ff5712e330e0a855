"""Reading the visit record into the pure models (read-only; nothing here writes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from bots.models import PlannedVisit, Visit
from careplan import hours
from careplan.medicines import DoseRecord, MedicineRef, MedicineSpec, PrnRule
from careplan.models import CarePlanVersion, Medicine, MedicineRecord, PlanTask
from careplan.rules import (
    OutcomeSpec,
    PlanSpec,
    TaskSpec,
    VisitTypeSpec,
    tasks_for,
    visit_type_at,
)
from rooms.models import ServiceUser


def plan_spec(version: CarePlanVersion) -> PlanSpec:
    return PlanSpec(
        visit_types=[VisitTypeSpec.model_validate(v) for v in version.visit_types],
        outcomes=[
            OutcomeSpec(key=o.key, text=o.text, goal_id=o.goal_id)
            for o in version.outcomes.order_by("position", "id")
        ],
        tasks=[task_spec(t) for t in version.tasks.order_by("position", "id")],
    )


def task_spec(t: PlanTask) -> TaskSpec:
    return TaskSpec(
        key=t.key,
        label=t.label,
        visit_type=t.visit_type,
        essential=t.essential,
        family_label=t.family_label,
        outcome=t.outcome_key or None,
        details=t.details,
    )


def current_version(su: ServiceUser | int, at: dt.datetime | None = None) -> CarePlanVersion | None:
    """The newest version (created at or before ``at`` when given)."""
    qs = CarePlanVersion.objects.filter(
        service_user_id=su.pk if isinstance(su, ServiceUser) else su
    )
    if at is not None:
        qs = qs.filter(created_at__lte=at)
    return qs.order_by("-number").first()


class VisitPlan:
    """The tasks of one visit: its visit type in the version current at check-in."""

    def __init__(self, visit: Visit):
        self.visit = visit
        self.version = current_version(visit.service_user_id, visit.checked_in_at)
        self.visit_type: VisitTypeSpec | None = None
        self.tasks: list[PlanTask] = []
        if self.version is None:
            return
        spec = plan_spec(self.version)
        planned = visit.planned_visit.window_start if visit.planned_visit_id else None
        self.visit_type = visit_type_at(spec, planned or visit.checked_in_at)
        keys = [t.key for t in tasks_for(spec, self.visit_type.name)]
        rows = {t.key: t for t in self.version.tasks.all()}
        self.tasks = [rows[k] for k in keys]

    @property
    def title(self) -> str:
        return self.visit_type.title if self.visit_type else "Visit"


def medicine_spec(m: Medicine) -> MedicineSpec:
    prn = None
    if m.prn_max_doses_24h is not None:
        prn = PrnRule(
            max_doses_24h=m.prn_max_doses_24h, min_interval_minutes=m.prn_min_interval_minutes or 0
        )
    return MedicineSpec(
        name=m.name,
        dose=m.dose,
        route=m.route,
        times=list(m.times),
        prn=prn,
        time_critical=m.time_critical,
        instructions=m.instructions,
    )


def medicine_ref(m: Medicine) -> MedicineRef:
    return MedicineRef(
        id=m.pk, spec=medicine_spec(m), active_from=m.started_at, active_until=m.stopped_at
    )


def medicines_active_between(
    su: ServiceUser, start: dt.datetime, end: dt.datetime
) -> list[Medicine]:
    """Lines in force at some instant of ``[start, end)``."""
    return list(
        Medicine.objects.filter(service_user=su, started_at__lt=end)
        .exclude(stopped_at__lte=start)
        .order_by("name", "id")
    )


def dose_records(rows: Iterable[MedicineRecord]) -> list[DoseRecord]:
    return [
        DoseRecord(
            medicine_id=r.medicine_id,
            scheduled_for=r.scheduled_for,
            outcome=r.outcome,
            at=r.given_at,
            corrected=r.corrects_id is not None,
        )
        for r in rows
    ]


def _point(lat: float | None, lon: float | None) -> hours.Point | None:
    if lat is None or lon is None:
        return None
    return hours.Point(lat=lat, lon=lon)


def visit_facts(visits: Iterable[Visit]) -> list[hours.VisitFacts]:
    """Pass visits with ``select_related("planned_visit")``."""
    return [
        hours.VisitFacts(
            visit_id=v.pk,
            worker_id=v.worker_id,
            service_user_id=v.service_user_id,
            checked_in_at=v.checked_in_at,
            checked_out_at=v.checked_out_at,
            checkin_at=_point(v.checkin_lat, v.checkin_lon),
            checkout_at=_point(v.checkout_lat, v.checkout_lon),
            planned_minutes=v.planned_visit.expected_minutes if v.planned_visit_id else None,
        )
        for v in visits
    ]


def planned_facts(rows: Iterable[PlannedVisit]) -> list[hours.PlannedFacts]:
    return [
        hours.PlannedFacts(
            planned_visit_id=p.pk,
            service_user_id=p.service_user_id,
            worker_id=p.worker_id,
            window_start=p.window_start,
            expected_minutes=p.expected_minutes,
        )
        for p in rows
    ]
