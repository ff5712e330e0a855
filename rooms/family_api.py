"""Family lawful basis in the API: one basis per family member (``rooms.network``).

For the service user's provider's care managers (``rooms.network.access_family_member``;
the history choice also for the service user on their own account). Every refusal —
unknown person, another provider's or council's, not family, no right — is the same
404 ``No such room or person.``; bodies reject undeclared fields (422 ``invalid``).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict

from cocare_chat import clock
from rooms import audit
from rooms.access import Action, access_room, managed_service_users
from rooms.api import ErrorOut, me
from rooms.bounds import BoundedDate, Id
from rooms.errors import NotFound
from rooms.models import FamilyBasis, Membership, Role, Room
from rooms.network import (
    MEMBER_REFUSED,
    FamilyBasisIn,
    check_record_family_basis,
    check_review_family_basis,
    check_revoke_family_basis,
    check_set_goal_writer,
    check_set_history_before_join,
    family_bases,
    reviews_due,
)

router = Router(tags=["family lawful basis"])


class ReviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    review_on: BoundedDate


class GoalWriterIn(Schema):
    model_config = ConfigDict(extra="forbid")

    may_write_goals: bool


class HistoryIn(Schema):
    model_config = ConfigDict(extra="forbid")

    sees_history_before_join: bool


def basis_wire(fb: FamilyBasis) -> dict:
    return {
        "id": fb.id,
        "service_user": fb.service_user_id,
        "person": fb.person_id,
        "person_name": fb.person.display_name,
        "basis": fb.basis,
        "notes": fb.notes,
        "decision": fb.decision,
        "lpa_reference": fb.lpa_reference,
        "review_on": fb.review_on.isoformat() if fb.review_on else None,
        "recorded_by": fb.recorded_by_id,
        "recorded_at": fb.recorded_at.isoformat(),
        "revoked_at": fb.revoked_at.isoformat() if fb.revoked_at else None,
        "revoked_by": fb.revoked_by_id,
    }


def _manage(request, su_id: int):
    """The family room if the caller manages its members (the members page's rule)."""
    person = me(request)
    room = Room.objects.filter(service_user_id=su_id, kind=Room.Kind.FAMILY).first()
    try:
        if room is None:
            raise NotFound(MEMBER_REFUSED)
        room, _ = access_room(person, room.id, Action.MANAGE)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None
    return person, room.service_user, room


@router.get("/service-users/{su_id}/family", response={200: dict, 404: ErrorOut})
def family(request, su_id: Id):
    """Family members with their history choice, and every basis ever recorded."""
    person, su, room = _manage(request, su_id)
    audit.record(person, "members.read", service_user=su)
    members = (
        Membership.objects.filter(room=room, removed_at__isnull=True, person__role=Role.FAMILY)
        .select_related("person")
        .order_by("person__display_name")
    )
    return {
        "service_user": su.id,
        "members": [
            {
                "person": m.person_id,
                "name": m.person.display_name,
                "sees_history_before_join": m.history_before_join,
                "may_write_goals": m.may_write_goals,
            }
            for m in members
        ],
        "bases": [basis_wire(fb) for fb in family_bases(su)[:500]],
    }


@router.post(
    "/service-users/{su_id}/family/{person_id}/basis",
    response={201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def record_basis(request, su_id: Id, person_id: Id, data: FamilyBasisIn):
    fb = check_record_family_basis(me(request), su_id, person_id, data)
    return Status(201, basis_wire(fb))


@router.post(
    "/service-users/{su_id}/family/{person_id}/basis/revoke",
    response={200: dict, 404: ErrorOut},
)
def revoke_basis(request, su_id: Id, person_id: Id):
    """Effective at commit; the member's open sockets are told at once."""
    return basis_wire(check_revoke_family_basis(me(request), su_id, person_id))


@router.post(
    "/service-users/{su_id}/family/{person_id}/basis/review",
    response={200: dict, 404: ErrorOut, 422: ErrorOut},
)
def review_basis(request, su_id: Id, person_id: Id, data: ReviewIn):
    return basis_wire(check_review_family_basis(me(request), su_id, person_id, data.review_on))


@router.put(
    "/service-users/{su_id}/family/{person_id}/history",
    response={200: dict, 404: ErrorOut, 422: ErrorOut},
)
def set_history(request, su_id: Id, person_id: Id, data: HistoryIn):
    m = check_set_history_before_join(me(request), su_id, person_id, data.sees_history_before_join)
    return {"person": m.person_id, "sees_history_before_join": m.history_before_join}


@router.put(
    "/service-users/{su_id}/family/{person_id}/goal-writer",
    response={200: dict, 404: ErrorOut, 422: ErrorOut},
)
def set_goal_writer(request, su_id: Id, person_id: Id, data: GoalWriterIn):
    """The person's agreement that this family member may write goals."""
    m = check_set_goal_writer(me(request), su_id, person_id, data.may_write_goals)
    return {"person": m.person_id, "may_write_goals": m.may_write_goals}


@router.get("/family-bases/reviews-due", response={200: dict})
def due(request):
    """Active bases whose review date has come, for the service users this care manager's
    provider cares for (empty for anyone else)."""
    person = me(request)
    today: dt.date = timezone.localdate(clock.now())
    rows = reviews_due(managed_service_users(person), today)[:500]
    return {"today": today.isoformat(), "due": [basis_wire(fb) for fb in rows]}
