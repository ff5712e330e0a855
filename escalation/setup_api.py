"""Escalation set-up in the API (mounted at ``/api/escalation``): the on-call rota, the
provider's policy and the preview (``escalation.setup``). For a provider's care
managers; anyone else gets 404 ``not_found``. Bodies reject undeclared fields."""

from __future__ import annotations

from typing import Any

from ninja import Router, Status
from pydantic import ConfigDict

from cocare_chat import clock
from escalation.access import access_provider_setup
from escalation.directory import policy_for
from escalation.models import OnCallShift
from escalation.schemas import Severity
from escalation.setup import (
    ShiftIn,
    access_preview_service_user,
    check_add_shift,
    check_remove_shift,
    check_reset_policy,
    check_set_policy,
    preview,
    rota,
    validate_policy,
)
from rooms.api import Body, ErrorOut, me
from rooms.bounds import Id, JsonObject

router = Router(tags=["escalation set-up"])


def shift_wire(s: OnCallShift) -> dict:
    return {
        "id": s.id,
        "person": s.person_id,
        "name": s.person.display_name,
        "role": s.role,
        "starts_at": s.starts_at.isoformat(),
        "ends_at": s.ends_at.isoformat(),
    }


@router.get("/rota", response={200: dict, 404: ErrorOut})
def get_rota(request):
    provider = access_provider_setup(me(request))
    return {
        "provider": provider.id,
        "shifts": [shift_wire(s) for s in rota(provider.id, clock.now())],
    }


class ShiftBody(Body, ShiftIn):
    pass


@router.post("/rota", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def add_shift(request, data: ShiftBody):
    s = check_add_shift(me(request), ShiftIn(**data.model_dump()))
    return Status(201, shift_wire(s))


@router.delete("/rota/{shift_id}", response={204: None, 404: ErrorOut})
def remove_shift(request, shift_id: Id):
    check_remove_shift(me(request), shift_id)
    return Status(204, None)


@router.get("/policy", response={200: dict, 404: ErrorOut})
def get_policy(request):
    provider = access_provider_setup(me(request))
    return {"provider": provider.id, "policy": policy_for(provider).model_dump(mode="json")}


class PolicyBody(Body):
    policy: JsonObject


@router.put("/policy", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def put_policy(request, data: PolicyBody):
    policy = check_set_policy(me(request), data.policy)
    return {"policy": policy.model_dump(mode="json")}


@router.delete("/policy", response={200: dict, 404: ErrorOut})
def reset_policy(request):
    return {"policy": check_reset_policy(me(request)).model_dump(mode="json")}


class PreviewBody(Body):
    model_config = ConfigDict(extra="forbid")

    service_user: Id | None = None
    severity: Severity = "medium"
    # A draft to preview before saving; the saved policy when absent.
    policy: JsonObject | None = None


@router.post("/policy/preview", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def preview_policy(request, data: PreviewBody):
    """If an alert opened now: who is told, and when (the engine's own code)."""
    person = me(request)
    su = access_preview_service_user(person, data.service_user)
    draft: Any = validate_policy(data.policy) if data.policy is not None else None
    now = clock.now()
    return {
        "service_user": su.id,
        "severity": data.severity,
        "opened_at": now.isoformat(),
        "steps": [
            {
                "at": s.at.isoformat(),
                "step": s.step_type,
                "audience": s.audience,
                "recipients": s.recipients,
                "note": s.note,
            }
            for s in preview(su, data.severity, now, draft)
        ],
    }
