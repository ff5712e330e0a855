"""Visit-record API (mounted at ``/api/careplan``): care plan, medicines, outcomes, MAR, exports.

Thin adapters: bodies and queries are pydantic (``extra="forbid"``, ``rooms.bounds`` types
for ids and dates); access is ``careplan.access``; writes are ``careplan.actions``. Every
refusal — no such id, not yours, wrong role, family, another provider — is the same 404
body (``{"error": "not_found", "message": "Not found."}``). Reads are audited.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, field_validator

from careplan import access, actions, exports, wire
from careplan.common import Text
from careplan.medicines import DoseRecordIn, MedicineSpec
from careplan.models import CarePlanVersion, Medicine, MedicineChange
from careplan.rules import PlanSpec, TaskOutcome
from careplan.store import current_version
from cocare_chat import clock
from rooms import audit
from rooms.api import ErrorOut
from rooms.bounds import BoundedDatetime, Id
from rooms.errors import Invalid
from rooms.frames import ClientId
from rooms.models import Person

router = Router(tags=["careplan"])


class Body(Schema):  # a JSON body: undeclared fields are refused
    model_config = ConfigDict(extra="forbid")


def _only(request, model: type) -> None:
    """Refuse query parameters the endpoint does not declare (ninja ignores them)."""
    unknown = sorted(set(request.GET) - set(model.model_fields))
    if unknown:
        raise Invalid(f"{unknown[0][:40]}: unknown query parameter")


def _me(request) -> Person | None:
    """The signed-in person, or None (refused by the access functions with the one body)."""
    return Person.objects.select_related("organisation").filter(user=request.user).first()


# ---- care plan ---------------------------------------------------------------------------


@router.get("/service-users/{su_id}/plan", response={200: dict, 404: ErrorOut})
def get_plan(request, su_id: Id):
    person = _me(request)
    su = access.access_record(person, su_id)
    version = current_version(su)
    audit.record(person, "careplan.read", service_user=su)
    return wire.plan_wire(version)


@router.get("/service-users/{su_id}/plan/versions", response={200: list[dict], 404: ErrorOut})
def plan_versions(request, su_id: Id):
    person = _me(request)
    su = access.access_record(person, su_id)
    audit.record(person, "careplan.history", service_user=su)
    return [
        wire.version_wire(v)
        for v in CarePlanVersion.objects.filter(service_user=su).order_by("-number")[:200]
    ]


class PlanIn(PlanSpec):
    """The whole plan as it should be from now on, and the version it was edited from."""

    base_version: int = Field(ge=0, le=1_000_000)
    note: Text = Field("", max_length=200)


@router.put(
    "/service-users/{su_id}/plan",
    response={200: dict, 201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def save_plan(request, su_id: Id, data: PlanIn):
    """A new version (201) — or the current one (200) when nothing changed. 409 when the
    plan changed since ``base_version``."""
    spec = PlanSpec.model_validate(data.model_dump(exclude={"base_version", "note"}))
    saved = actions.check_save_plan(
        _me(request), su_id, spec, base_version=data.base_version, note=data.note, now=clock.now()
    )
    return Status(201 if saved.created else 200, wire.plan_wire(saved.obj))


# ---- medicines list ----------------------------------------------------------------------


class MedicinesQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    include_stopped: bool = False


@router.get("/service-users/{su_id}/medicines", response={200: list[dict], 404: ErrorOut})
def list_medicines(request, su_id: Id, q: Query[MedicinesQuery]):
    _only(request, MedicinesQuery)
    person = _me(request)
    su = access.access_record(person, su_id)
    qs = Medicine.objects.filter(service_user=su)
    if not q.include_stopped:
        qs = qs.filter(stopped_at__isnull=True)
    audit.record(person, "medicine.list", service_user=su)
    return [wire.medicine_wire(m) for m in qs.order_by("name", "id")[:500]]


class MedicineIn(MedicineSpec):
    reason: Text = Field("", max_length=200)  # why it was added / changed (the audit trail)

    def spec(self) -> MedicineSpec:
        return MedicineSpec.model_validate(self.model_dump(exclude={"reason"}))


@router.post("/service-users/{su_id}/medicines", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def add_medicine(request, su_id: Id, data: MedicineIn):
    med = actions.check_add_medicine(
        _me(request), su_id, data.spec(), reason=data.reason, now=clock.now()
    )
    return Status(201, wire.medicine_wire(med))


@router.put(
    "/medicines/{medicine_id}",
    response={200: dict, 201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def change_medicine(request, medicine_id: Id, data: MedicineIn):
    """Stops this line and starts the changed one (201, the new line); 200 when nothing
    changed or the same change was already made; 409 when the line was changed meanwhile."""
    saved = actions.check_change_medicine(
        _me(request), medicine_id, data.spec(), reason=data.reason, now=clock.now()
    )
    return Status(201 if saved.created else 200, wire.medicine_wire(saved.obj))


class StopIn(Body):
    reason: Text = Field("", max_length=200)


@router.post("/medicines/{medicine_id}/stop", response={200: dict, 404: ErrorOut})
def stop_medicine(request, medicine_id: Id, data: StopIn):
    saved = actions.check_stop_medicine(
        _me(request), medicine_id, reason=data.reason, now=clock.now()
    )
    return wire.medicine_wire(saved.obj)


@router.get("/medicines/{medicine_id}/changes", response={200: list[dict], 404: ErrorOut})
def medicine_changes(request, medicine_id: Id):
    person = _me(request)
    med = actions.access_medicine(person, medicine_id, edit=False)
    audit.record(
        person, "medicine.history", service_user=med.service_user_id, target=f"medicine:{med.pk}"
    )
    return [
        {
            "action": c.action,
            "at": c.at.isoformat(),
            "changed_by": c.changed_by_id,
            "reason": c.reason,
            "spec": c.spec,
        }
        for c in MedicineChange.objects.filter(medicine=med).order_by("at", "id")
    ]


# ---- a visit's tasks and doses -----------------------------------------------------------


@router.get("/visits/{visit_id}/record", response={200: dict, 404: ErrorOut})
def visit_record(request, visit_id: Id):
    person = _me(request)
    visit = access.access_visit(person, visit_id)
    now = clock.now()
    audit.record(
        person, "visit_record.read", service_user=visit.service_user_id, target=f"visit:{visit.pk}"
    )
    return wire.visit_record_wire(visit, now, actions.visit_end(visit, now))


class TaskIn(TaskOutcome):
    client_id: ClientId
    task: Id


@router.post(
    "/visits/{visit_id}/tasks",
    response={200: dict, 201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def record_task(request, visit_id: Id, data: TaskIn):
    """Tick a task done / not done (201; 200 for a retry of the same client id or the same
    answer). Only the visit's care worker, during the visit."""
    outcome = TaskOutcome(done=data.done, reason=data.reason)
    saved = actions.check_record_task(
        _me(request), visit_id, data.task, outcome, client_id=data.client_id, now=clock.now()
    )
    return Status(201 if saved.created else 200, wire.task_record_wire(saved.obj))


class DoseIn(DoseRecordIn):
    client_id: ClientId
    medicine: Id
    scheduled_for: BoundedDatetime | None = None  # a scheduled dose: which one
    given_at: BoundedDatetime | None = None  # an as-needed dose: when (default now)

    @field_validator("scheduled_for", "given_at")
    @classmethod
    def _with_zone(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.utcoffset() is None:
            raise ValueError("give the time zone (e.g. 2026-03-02T09:00:00Z)")
        return v


@router.post(
    "/visits/{visit_id}/doses",
    response={200: dict, 201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def record_dose(request, visit_id: Id, data: DoseIn):
    """Record a dose outcome (201; 200 for a retry). A scheduled dose names its
    ``scheduled_for``; an as-needed dose is checked against its 24-hour maximum and
    minimum interval (409 with the next possible time when not allowed)."""
    rec = DoseRecordIn(
        outcome=data.outcome, reason=data.reason, prn_reason=data.prn_reason, note=data.note
    )
    saved = actions.check_record_dose(
        _me(request),
        visit_id,
        data.medicine,
        rec,
        client_id=data.client_id,
        now=clock.now(),
        scheduled_for=data.scheduled_for,
        given_at=data.given_at,
    )
    return Status(201 if saved.created else 200, wire.dose_record_wire(saved.obj))


class CorrectionIn(DoseRecordIn):
    client_id: ClientId
    why: Text = Field(min_length=3, max_length=200)


@router.post(
    "/doses/{record_id}/correction",
    response={200: dict, 201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def correct_dose(request, record_id: Id, data: CorrectionIn):
    """A care manager corrects a recorded dose (201; 200 for a retry of the same client
    id): a new record supersedes the old one, with who, when and ``why``; the old one is
    kept and both show on the MAR chart. 409 when the record was already corrected."""
    rec = DoseRecordIn(
        outcome=data.outcome, reason=data.reason, prn_reason=data.prn_reason, note=data.note
    )
    saved = actions.check_correct_dose(
        _me(request), record_id, rec, why=data.why, client_id=data.client_id, now=clock.now()
    )
    return Status(201 if saved.created else 200, wire.dose_record_wire(saved.obj))


# ---- MAR chart and exports ---------------------------------------------------------------


class MonthQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")

    @property
    def year_month(self) -> tuple[int, int]:
        return int(self.month[:4]), int(self.month[5:])


@router.get("/service-users/{su_id}/mar", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def mar(request, su_id: Id, q: Query[MonthQuery]):
    """The month's MAR chart as JSON (``month=YYYY-MM``)."""
    _only(request, MonthQuery)
    person = _me(request)
    su = access.access_record(person, su_id)
    year, month = q.year_month
    audit.record(person, "mar.read", service_user=su, target=f"mar:{q.month}")
    return wire.mar_wire(su, year, month)


class PayrollQuery(exports.Period):
    worker: Id


class CouncilQuery(exports.Period):
    council: Id


def csv_response(text: str, filename: str) -> HttpResponse:
    resp = HttpResponse(text, content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp["Cache-Control"] = "no-store"
    return resp


@router.get("/exports/payroll.csv", response={200: None, 404: ErrorOut, 422: ErrorOut})
def payroll_csv(request, q: Query[PayrollQuery]):
    """One worker's pay period (at most 93 days): visits, paid minutes, travel."""
    _only(request, PayrollQuery)
    period = exports.Period(start=q.start, end=q.end)  # already validated as part of q
    person = _me(request)
    worker = access.access_payroll(person, q.worker)
    audit.record(person, "export.payroll", target=f"worker:{worker.pk}")
    return csv_response(
        exports.payroll_csv(worker, period, clock.now()),
        f"payroll-{worker.pk}-{period.start}-{period.end}.csv",
    )


@router.get("/exports/council.csv", response={200: None, 404: ErrorOut, 422: ErrorOut})
def council_csv(request, q: Query[CouncilQuery]):
    """Commissioned vs planned vs delivered per person, for one council and period."""
    _only(request, CouncilQuery)
    period = exports.Period(start=q.start, end=q.end)
    person = _me(request)
    provider, council = access.access_council_export(person, q.council)
    audit.record(person, "export.council", target=f"council:{council.pk}")
    return csv_response(
        exports.council_csv(provider, council, period, clock.now()),
        f"council-{council.pk}-{period.start}-{period.end}.csv",
    )
