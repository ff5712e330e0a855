"""Visits API (mounted at ``/api/visits``): planned visits, CSV import, goals, visit list.

Thin adapters: authorise through ``rooms.access`` (care managers of the person's provider
write; members with key-information access read), write through ``bots.schedule``.
"""

from __future__ import annotations

from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from bots.models import Goal, PlannedVisit, Visit
from bots.schedule import (
    CsvImportError,
    GoalIn,
    PlannedVisitIn,
    check_add_goal,
    check_cancel_planned_visit,
    check_create_planned_visit,
    check_end_goal,
    check_update_planned_visit,
    import_planned_visits,
)
from rooms import access, audit
from rooms.api import ErrorOut, me
from rooms.bounds import BoundedDatetime, Id
from rooms.errors import NotFound

router = Router(tags=["visits"])


class Body(Schema):
    model_config = ConfigDict(extra="forbid")


def planned_wire(pv: PlannedVisit) -> dict:
    visit = getattr(pv, "visit", None)
    return {
        "id": pv.id,
        "service_user": pv.service_user_id,
        "worker": pv.worker_id,
        "window_start": pv.window_start.isoformat(),
        "window_end": pv.window_end.isoformat(),
        "expected_minutes": pv.expected_minutes,
        "status": pv.status,
        "notes": pv.notes,
        "visit": visit.id if visit is not None else None,
        "missed_flagged": pv.missed_flagged_at is not None,
    }


def visit_wire(v: Visit) -> dict:
    return {
        "id": v.id,
        "service_user": v.service_user_id,
        "worker": v.worker_id,
        "planned_visit": v.planned_visit_id,
        "checked_in_at": v.checked_in_at.isoformat(),
        "checked_out_at": v.checked_out_at.isoformat() if v.checked_out_at else None,
        "checkin_location": v.checkin_location,
        "checkout_location": v.checkout_location,
        "duration_minutes": v.duration_minutes,
        "travel_minutes": v.travel_minutes,
        "late": v.late,
        "exception_reason": v.exception_reason,
        "checkin_reason": v.exception_reason,
        "checkout_reason": v.checkout_reason,
    }


class Range(Schema):
    # Bounded (rooms/bounds.py): "0001-01-01T00:00:00-23:59" is year 0 in UTC.
    start: BoundedDatetime | None = None
    end: BoundedDatetime | None = None
    limit: int = Field(200, ge=1, le=1000)


@router.get("/service-users/{su_id}/planned", response={200: list[dict], 404: ErrorOut})
def list_planned(request, su_id: Id, q: Query[Range]):
    person = me(request)
    su = access.access_service_user(person, su_id)
    qs = PlannedVisit.objects.filter(service_user=su).select_related("visit")
    if q.start:
        qs = qs.filter(window_end__gte=q.start)
    if q.end:
        qs = qs.filter(window_start__lte=q.end)
    audit.record(person, "planned_visit.list", service_user=su)
    return [planned_wire(p) for p in qs.order_by("window_start")[: q.limit]]


class PlannedBody(Body, PlannedVisitIn):
    pass


@router.post(
    "/service-users/{su_id}/planned",
    response={201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def create_planned(request, su_id: Id, data: PlannedBody):
    pv = check_create_planned_visit(me(request), su_id, PlannedVisitIn(**data.model_dump()))
    return Status(201, planned_wire(pv))


@router.put("/planned/{pv_id}", response={200: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut})
def update_planned(request, pv_id: Id, data: PlannedBody):
    pv = check_update_planned_visit(me(request), pv_id, PlannedVisitIn(**data.model_dump()))
    return planned_wire(pv)


@router.delete("/planned/{pv_id}", response={200: dict, 404: ErrorOut})
def cancel_planned(request, pv_id: Id):
    return planned_wire(check_cancel_planned_visit(me(request), pv_id))


class ImportIn(Body):
    csv: str = Field(min_length=1, max_length=5_000_000)


@router.post("/planned-import", response={201: dict, 404: ErrorOut, 422: dict})
def import_csv(request, data: ImportIn):
    """All or nothing; a 422 lists every bad row by line number. Care managers only:
    anyone else is answered as if the endpoint did not exist (404, like every refusal)."""
    person = me(request)
    if person.role != "care_manager":
        raise NotFound("No such page.")
    try:
        res = import_planned_visits(data.csv, by=person)
    except CsvImportError as exc:
        return Status(
            422, {"error": "invalid_rows", "message": "Nothing was imported.", "rows": exc.errors}
        )
    return Status(201, res.model_dump())


@router.get("/service-users/{su_id}/visits", response={200: list[dict], 404: ErrorOut})
def list_visits(request, su_id: Id, q: Query[Range]):
    person = me(request)
    su = access.access_service_user(person, su_id)
    qs = Visit.objects.filter(service_user=su)
    if q.start:
        qs = qs.filter(checked_in_at__gte=q.start)
    if q.end:
        qs = qs.filter(checked_in_at__lte=q.end)
    audit.record(person, "visit.list", service_user=su)
    return [visit_wire(v) for v in qs.order_by("-checked_in_at")[: q.limit]]


@router.get("/service-users/{su_id}/goals", response={200: list[dict], 404: ErrorOut})
def list_goals(request, su_id: Id):
    su = access.access_service_user(me(request), su_id)
    return [
        {
            "id": g.id,
            "text": g.text,
            "active": g.active,
            "achieved_at": g.achieved_at.isoformat() if g.achieved_at else None,
        }
        for g in Goal.objects.filter(service_user=su).order_by("id")
    ]


class GoalBody(Body, GoalIn):
    pass


@router.post("/service-users/{su_id}/goals", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def add_goal(request, su_id: Id, data: GoalBody):
    g = check_add_goal(me(request), su_id, GoalIn(text=data.text))
    return Status(201, {"id": g.id, "text": g.text, "active": g.active})


class GoalEnd(Body):
    achieved: bool = False


@router.post("/goals/{goal_id}/end", response={200: dict, 404: ErrorOut})
def end_goal(request, goal_id: Id, data: GoalEnd):
    g = check_end_goal(me(request), goal_id, achieved=data.achieved)
    return {"id": g.id, "active": g.active}
