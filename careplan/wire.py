"""JSON shapes of the visit record for the API and pages (reads only)."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext

from bots.models import Visit
from careplan.common import LOCAL_TZ, local_date, local_hhmm
from careplan.medicines import DOSE_REASONS, TOLERANCE, doses_due, mar_chart
from careplan.models import CarePlanVersion, Medicine, MedicineRecord, TaskRecord
from careplan.rules import NOT_DONE_REASONS
from careplan.store import (
    VisitPlan,
    dose_records,
    medicine_ref,
    medicines_active_between,
    plan_spec,
)
from rooms.models import ServiceUser


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at else None


def plan_wire(version: CarePlanVersion | None) -> dict:
    if version is None:
        return {"version": None, "visit_types": [], "outcomes": [], "tasks": []}
    spec = plan_spec(version)
    ids = dict(version.tasks.values_list("key", "id"))
    return {
        "version": version.number,
        "created_at": _iso(version.created_at),
        "created_by": version.created_by_id,
        "note": version.note,
        "visit_types": [v.model_dump() for v in spec.visit_types],
        "outcomes": [o.model_dump() for o in spec.outcomes],
        "tasks": [{"id": ids[t.key], **t.model_dump()} for t in spec.tasks],
    }


def version_wire(v: CarePlanVersion) -> dict:
    return {
        "version": v.number,
        "created_at": _iso(v.created_at),
        "created_by": v.created_by_id,
        "note": v.note,
    }


def medicine_wire(m: Medicine) -> dict:
    spec = medicine_ref(m).spec
    return {
        "id": m.pk,
        **spec.model_dump(),
        "started_at": _iso(m.started_at),
        "stopped_at": _iso(m.stopped_at),
        "replaces": m.replaces_id,
    }


def task_record_wire(r: TaskRecord) -> dict:
    return {
        "id": r.pk,
        "task": r.task_id,
        "done": r.done,
        "reason": r.reason or None,
        "recorded_by": r.recorded_by_id,
        "recorded_at": _iso(r.recorded_at),
        "updated_at": _iso(r.updated_at),
        "flagged": r.flag_message_id is not None,
    }


def dose_record_wire(r: MedicineRecord) -> dict:
    return {
        "id": r.pk,
        "medicine": r.medicine_id,
        "scheduled_for": _iso(r.scheduled_for),
        "outcome": r.outcome,
        "reason": r.reason or None,
        "prn_reason": r.prn_reason,
        "note": r.note,
        "given_at": _iso(r.given_at),
        "recorded_by": r.recorded_by_id,
        "flagged": r.flag_message_id is not None,
        "corrects": r.corrects_id,
        "correction_reason": r.correction_reason,
        "superseded_at": _iso(r.superseded_at),
    }


def visit_record_wire(visit: Visit, now: dt.datetime, end: dt.datetime) -> dict:
    """A visit's tasks and doses: what is due, what was recorded (the worker's card)."""
    plan = VisitPlan(visit)
    records = {r.task_id: r for r in TaskRecord.objects.filter(visit=visit)}
    meds = medicines_active_between(
        visit.service_user, visit.checked_in_at - TOLERANCE, end + TOLERANCE
    )
    refs = {m.pk: medicine_ref(m) for m in meds}
    due = doses_due(list(refs.values()), visit.checked_in_at, end)
    doses = MedicineRecord.objects.filter(medicine_id__in=list(refs), superseded_at__isnull=True)
    scheduled = {
        (r.medicine_id, r.scheduled_for): r
        for r in doses.filter(scheduled_for__in=[d.scheduled_for for d in due])
    }
    return {
        "visit": visit.pk,
        "service_user": visit.service_user_id,
        "visit_type": plan.visit_type.name if plan.visit_type else None,
        "title": plan.title,
        "plan_version": plan.version.number if plan.version else None,
        "tasks": [
            {
                "id": t.pk,
                "key": t.key,
                "label": t.label,
                "essential": t.essential,
                "details": t.details,
                "record": task_record_wire(records[t.pk]) if t.pk in records else None,
            }
            for t in plan.tasks
        ],
        "doses_due": [
            {
                "medicine": d.medicine_id,
                "scheduled_for": _iso(d.scheduled_for),
                "time": d.time,
                "time_critical": d.time_critical,
                "name": refs[d.medicine_id].spec.name,
                "dose": refs[d.medicine_id].spec.dose,
                "route": refs[d.medicine_id].spec.route,
                "record": dose_record_wire(r)
                if (r := scheduled.get((d.medicine_id, d.scheduled_for)))
                else None,
            }
            for d in due
        ],
        "as_needed": [
            {
                "medicine": m.id,
                "name": m.spec.name,
                "dose": m.spec.dose,
                "route": m.spec.route,
                "max_doses_24h": m.spec.prn.max_doses_24h,
                "min_interval_minutes": m.spec.prn.min_interval_minutes,
            }
            for m in refs.values()
            if m.spec.as_needed
        ],
        "as_needed_records": [
            dose_record_wire(r)
            for r in doses.filter(visit=visit, scheduled_for__isnull=True).order_by("given_at")
        ],
        # the one-tap lists the worker's card offers (labels from the rules, one source)
        # ... in the reader's language (the request's, web.language.PersonLanguageMiddleware)
        "not_done_reasons": {k: gettext(v) for k, v in NOT_DONE_REASONS.items()},
        "dose_reasons": {k: gettext(v) for k, v in DOSE_REASONS.items()},
        "open": visit.checked_out_at is None,
    }


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=LOCAL_TZ)
    nxt = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=LOCAL_TZ)
    return start, nxt


def mar_wire(su: ServiceUser, year: int, month: int) -> dict:
    """The month's MAR chart (``careplan.medicines.mar_chart``) for one person."""
    start, end = month_bounds(year, month)
    meds = medicines_active_between(su, start, end)
    records = MedicineRecord.objects.filter(medicine__in=meds).filter(
        given_at__gte=start - dt.timedelta(days=1), given_at__lt=end + dt.timedelta(days=1)
    )
    current = records.filter(superseded_at__isnull=True)
    chart = mar_chart([medicine_ref(m) for m in meds], dose_records(current), year, month)
    corrections = (
        records.filter(corrects__isnull=False)
        .select_related("corrects", "recorded_by", "medicine")
        .order_by("recorded_at", "id")
    )
    return {
        "service_user": su.pk,
        **chart.model_dump(),
        "corrections": [correction_wire(c) for c in corrections],
        "records": [
            {
                **dose_record_wire(r),
                "name": r.medicine.name,
                "time": local_hhmm(r.scheduled_for)
                if r.scheduled_for
                else f"PRN {local_hhmm(r.given_at)}",
                "day": local_date(r.scheduled_for or r.given_at).isoformat(),
            }
            for r in current.select_related("medicine").order_by("given_at", "id")
            if start <= (r.scheduled_for or r.given_at) < end
        ],
    }


def correction_wire(c: MedicineRecord) -> dict:
    """A manager's correction as the MAR chart lists it: the dose, was / now, who, when, why."""
    old = c.corrects
    assert old is not None
    return {
        "record": c.pk,
        "corrects": old.pk,
        "medicine": c.medicine_id,
        "name": c.medicine.name,
        "day": local_date(c.scheduled_for or c.given_at).isoformat(),
        "time": local_hhmm(c.scheduled_for) if c.scheduled_for else f"PRN {local_hhmm(c.given_at)}",
        "was": old.outcome,
        "was_reason": old.reason or None,
        "now": c.outcome,
        "now_reason": c.reason or None,
        "by": c.recorded_by.display_name,
        "by_id": c.recorded_by_id,
        "at": _iso(c.recorded_at),
        "why": c.correction_reason,
    }
