"""Retention API (mounted at ``/api/retention``): the provider's policy and legal holds,
for its care managers (``rooms.retention_actions``); anyone else: the same 404 body."""

from __future__ import annotations

from ninja import Router, Status

from rooms.api import ErrorOut, me
from rooms.bounds import Id
from rooms.models import RetentionPolicy
from rooms.retention_actions import (
    HoldIn,
    PolicyIn,
    check_place_hold,
    check_release_hold,
    check_set_policy,
    holds_for,
    policy_of,
)

router = Router(tags=["retention"])


def policy_wire(p: RetentionPolicy | None) -> dict:
    if p is None:
        return {"message_days": None, "position_days": None, "next_run_at": None}
    return {
        "message_days": p.message_days,
        "position_days": p.position_days,
        "next_run_at": p.next_run_at.isoformat() if p.next_run_at else None,
    }


@router.get("/policy", response={200: dict, 404: ErrorOut})
def get_policy(request):
    return policy_wire(policy_of(me(request)))


@router.put("/policy", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def put_policy(request, data: PolicyIn):
    """Set the policy (null days: keep indefinitely). Audited; first run due at once."""
    return policy_wire(check_set_policy(me(request), data))


@router.get("/holds", response={200: list[dict], 404: ErrorOut})
def list_holds(request):
    return [
        {
            "service_user": su_id,
            "reason": h.reason,
            "placed_by": h.placed_by_id,
            "placed_at": h.placed_at.isoformat(),
        }
        for su_id, h in holds_for(me(request)).items()
    ]


@router.post("/holds/{su_id}", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def place(request, su_id: Id, data: HoldIn):
    """Place a legal hold (idempotent: an active hold is returned as it is). Audited."""
    h = check_place_hold(me(request), su_id, data)
    return Status(
        201, {"service_user": su_id, "reason": h.reason, "placed_at": h.placed_at.isoformat()}
    )


@router.delete("/holds/{su_id}", response={200: dict, 404: ErrorOut})
def release(request, su_id: Id):
    """Lift the active hold (none active: released 0). Audited when one is lifted."""
    return {"service_user": su_id, "released": check_release_hold(me(request), su_id)}
