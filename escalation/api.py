"""Alerts over HTTP (mounted at /api/alerts): inbox, alert view, raise a concern,
acknowledge, resolve, reopen, tell the family. Thin adapters over ``escalation.alerts``,
authorised by ``escalation.access``; errors are the API's JSON error bodies.
"""

from __future__ import annotations

from typing import Literal

from ninja import Field, Query, Router, Schema, Status

from cocare_chat import clock
from escalation import access
from escalation.alerts import (
    LABELS,
    do_acknowledge,
    do_flag,
    do_reopen,
    do_resolve,
    do_tell_family,
)
from escalation.concerns import my_concerns
from escalation.models import Alert, Flag
from escalation.schemas import Concern, Severity
from rooms import audit
from rooms.api import Body, ErrorOut, me
from rooms.bounds import Id
from rooms.wire import person_wire

router = Router(tags=["alerts"])


def alert_wire(a: Alert) -> dict:
    return {
        "id": a.id,
        "service_user": a.service_user_id,
        "name": a.service_user.name,
        "concern": a.concern,
        "label": LABELS.get(a.concern, a.concern),
        "severity": a.severity,
        "state": a.state,
        "opened_at": a.opened_at.isoformat(),
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
        "next_step_at": a.next_step_at.isoformat() if a.next_step_at else None,
        "escalated_to_council": a.council_notified_at is not None,
    }


class InboxQuery(Schema):
    state: Literal["open", "acknowledged", "resolved", "unresolved", "all"] = "unresolved"
    limit: int = Field(100, ge=1, le=500)


@router.get("", response={200: list[dict]})
def inbox(request, q: Query[InboxQuery]):
    person = me(request)
    qs = access.visible_alerts(person)
    if q.state == "unresolved":
        qs = qs.exclude(state=Alert.State.RESOLVED)
    elif q.state != "all":
        qs = qs.filter(state=q.state)
    return [alert_wire(a) for a in qs.order_by("-opened_at", "-id")[: q.limit]]


def _message_wire(m) -> dict:
    return {
        "id": m.id,
        "room": m.room_id,
        "seq": m.seq,
        "kind": m.kind,
        "sender": person_wire(m.sender),
        "body": m.current_body,
        "created_at": m.created_at.isoformat(),
    }


@router.get("/{int:alert_id}", response={200: dict, 404: ErrorOut})
def alert_view(request, alert_id: Id):
    person = me(request)
    alert = access.access_alert(person, alert_id)
    audit.record(
        person, "alert.read", service_user=alert.service_user_id, target=f"alert:{alert.id}"
    )
    flags = []
    for f in (
        Flag.objects.filter(alert=alert)
        .select_related("subject", "subject__room", "subject__sender")
        .order_by("id")
    ):
        context = access.flagged_context(person, alert, f.subject) if f.subject else None
        flags.append(
            {
                "id": f.id,
                "concern": f.concern,
                "severity": f.severity,
                "source": f.source,
                "rule": f.rule,
                "reason": f.reason,
                "created_at": f.created_at.isoformat(),
                "raised_by": f.raised_by_id,
                "message": f.subject_id,
                "context": [_message_wire(m) for m in context] if context is not None else None,
            }
        )
    events = [
        {
            "kind": e.kind,
            "at": e.at.isoformat(),
            "actor": e.actor_id,
            "data": e.data,
            "note": e.note,
        }
        for e in alert.events.all()
    ]
    return {
        "alert": alert_wire(alert) | {"outcome": alert.outcome},
        "flags": flags,
        "timeline": events,
    }


class ConcernIn(Body):
    message_id: Id
    reason: str = Field(min_length=1, max_length=500)
    concern: Concern = "other"
    severity: Severity = "medium"


@router.post("/concerns", response={201: dict, 200: dict, 404: ErrorOut, 422: ErrorOut})
def raise_concern(request, data: ConcernIn):
    """Raise a concern about a message you can read. Idempotent per (message, person)."""
    person = me(request)
    msg = access.access_message_for_concern(person, data.message_id)
    done = do_flag(
        message=msg,
        rule="explicit",
        concern=data.concern,
        severity=data.severity,
        source="explicit",
        reason=data.reason,
        raised_by=person,
        now=clock.now(),
    )
    return Status(
        201 if done.created else 200,
        {"flag": done.flag.id, "alert": done.flag.alert_id, "duplicate": not done.created},
    )


@router.get("/mine", response={200: list[dict]})
def mine(request):
    """Concerns I raised, each with its alert's state and, once resolved, the family-safe
    outcome the manager wrote (escalation/concerns.py)."""
    return my_concerns(me(request))


@router.post("/{int:alert_id}/ack", response={200: dict, 404: ErrorOut})
def acknowledge(request, alert_id: Id):
    person = me(request)
    alert = access.access_alert(person, alert_id, manage=True)
    changed = do_acknowledge(alert, person, clock.now())
    alert.refresh_from_db()
    return {"alert": alert_wire(alert), "changed": changed}


class ResolveIn(Body):
    outcome: str = Field(min_length=1, max_length=4000)
    # Family-safe words for whoever raised a concern on the alert (no clinical detail).
    raiser_outcome: str = Field("", max_length=1000)


@router.post(
    "/{int:alert_id}/resolve", response={200: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
)
def resolve(request, alert_id: Id, data: ResolveIn):
    person = me(request)
    alert = access.access_alert(person, alert_id, manage=True)
    done = do_resolve(alert, person, data.outcome, clock.now(), raiser_outcome=data.raiser_outcome)
    return {"alert": alert_wire(done)}


class ReopenIn(Body):
    reason: str = Field(min_length=1, max_length=2000)


@router.post(
    "/{int:alert_id}/reopen", response={200: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
)
def reopen(request, alert_id: Id, data: ReopenIn):
    person = me(request)
    alert = access.access_alert(person, alert_id, manage=True)
    return {"alert": alert_wire(do_reopen(alert, person, data.reason, clock.now()))}


class FamilyIn(Body):
    text: str = Field(min_length=1, max_length=2000)


@router.post("/{int:alert_id}/tell-family", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def tell_family(request, alert_id: Id, data: FamilyIn):
    person = me(request)
    alert = access.access_alert(person, alert_id, manage=True)
    m = do_tell_family(alert, person, data.text, clock.now())
    return Status(201, {"message": m.id, "room": m.room_id, "seq": m.seq})
