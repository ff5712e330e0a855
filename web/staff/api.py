"""``/api/org/…``: the set-up pages as an API (django-ninja, in the OpenAPI schema).

The same actions and the same access as the pages (``web.staff.views``): staff for
administrators (``rooms.access.grantable_roles``), service users for a provider's
administrator or care managers (``rooms.access.sets_up_service_users``). Anyone else, and
any id outside the caller's organisation, gets the same 404 body. Bodies reject
undeclared fields; numbers are finite and bounded (``rooms.bounds``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from django.contrib.auth import get_user_model
from ninja import Field, Router, Status

from rooms import access
from rooms.access import STAFF_GONE
from rooms.api import Body, ErrorOut, me
from rooms.bounds import FiniteFloat, Id
from rooms.errors import NotFound
from rooms.models import Person, ServiceUser
from rooms.staff import check_change_role, check_deactivate
from web.invitations import Issued
from web.staff.invites import (
    check_cancel_staff_invitation,
    check_invite_own_account,
    check_invite_staff,
)
from web.staff.service_users import (
    check_archive_service_user,
    check_assign_staff,
    check_create_service_user,
    check_update_service_user,
)

router = Router(tags=["organisation set-up"])

StaffRole = Literal[
    "provider_admin",
    "care_manager",
    "care_worker",
    "nurse",
    "therapist",
    "council_admin",
    "commissioner",
    "assessor",
]
Name = Field(min_length=1, max_length=120)
Days = Field(7, ge=1, le=30)
NOT_HERE = STAFF_GONE  # one refusal text for every set-up endpoint


def _admin(request) -> Person:
    person = me(request)
    if not access.grantable_roles(person):
        raise NotFound(NOT_HERE)
    return person


def _setup(request) -> Person:
    person = me(request)
    if not access.sets_up_service_users(person):
        raise NotFound(NOT_HERE)
    return person


def _issued(request, issued: Issued) -> dict:
    inv = issued.invitation
    return {
        "id": inv.id,
        "kind": inv.kind,
        "role": inv.role or None,
        "link": request.build_absolute_uri(f"/invite/{issued.token}/"),
        "expires_at": inv.expires_at.isoformat(),
    }


def _staff_wire(p: Person, active: bool) -> dict:
    return {"id": p.id, "name": p.display_name, "role": p.role, "active": active}


@router.get("/org/staff", response={200: list[dict], 404: ErrorOut})
def list_staff(request):
    """My organisation's staff (administrators only)."""
    admin = _admin(request)
    people = list(access.staff_of(admin).order_by("display_name"))
    active = dict(
        get_user_model().objects.filter(person__in=people).values_list("person__id", "is_active")
    )
    return [_staff_wire(p, active.get(p.id, False)) for p in people]


class StaffInviteIn(Body):
    display_name: str = Name
    role: StaffRole
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    days: int = Days


@router.post("/org/staff/invitations", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def invite_staff(request, data: StaffInviteIn):
    """A single-use link for a new member of staff, with a role I may grant. The link is
    in this response only (its hash is stored)."""
    issued = check_invite_staff(
        _admin(request),
        display_name=data.display_name,
        role=data.role,
        email=data.email or "",
        days=data.days,
    )
    return Status(201, _issued(request, issued))


@router.delete("/org/staff/invitations/{invitation_id}", response={204: None, 404: ErrorOut})
def cancel_staff_invitation(request, invitation_id: Id):
    check_cancel_staff_invitation(_admin(request), invitation_id)
    return Status(204, None)


class RoleIn(Body):
    role: StaffRole


@router.post("/org/staff/{person_id}/role", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def change_role(request, person_id: Id, data: RoleIn):
    """Change a member of staff's role (to one I may grant; not my own)."""
    person = check_change_role(_admin(request), person_id, data.role)
    return {"id": person.id, "role": person.role}


@router.post(
    "/org/staff/{person_id}/deactivate", response={200: dict, 404: ErrorOut, 422: ErrorOut}
)
def deactivate(request, person_id: Id):
    """Deactivate a member of staff: their sessions and open sockets end at once.
    Idempotent: ``changed`` is false when they were already inactive."""
    changed = check_deactivate(_admin(request), person_id)
    return {"id": person_id, "active": False, "changed": changed}


def _su_wire(su: ServiceUser) -> dict:
    return {
        "id": su.id,
        "full_name": su.full_name,
        "preferred_name": su.preferred_name,
        "provider": su.provider_id,
        "council": su.council_id,
        "home_lat": su.home_lat,
        "home_lon": su.home_lon,
        "checkin_radius_m": su.checkin_radius_m,
        "commissioned_hours_per_week": str(su.commissioned_hours_per_week),
        "own_account": su.person_id is not None,
        "archived_at": su.archived_at.isoformat() if su.archived_at else None,
    }


@router.get("/org/service-users", response={200: list[dict], 404: ErrorOut})
def list_service_users(request):
    person = _setup(request)
    return [_su_wire(su) for su in access.setup_service_users(person).order_by("full_name")]


class DetailsIn(Body):
    full_name: str | None = Field(None, min_length=1, max_length=200)
    preferred_name: str | None = Field(None, max_length=100)
    home_lat: FiniteFloat | None = Field(None, ge=-90, le=90)
    home_lon: FiniteFloat | None = Field(None, ge=-180, le=180)
    checkin_radius_m: int | None = Field(None, ge=10, le=5000)
    commissioned_hours_per_week: Decimal | None = Field(
        None, ge=0, le=168, max_digits=5, decimal_places=2, allow_inf_nan=False
    )


class ServiceUserIn(DetailsIn):
    full_name: str = Field(min_length=1, max_length=200)  # type: ignore[assignment]
    preferred_name: str = Field("", max_length=100)  # type: ignore[assignment]
    manager_ids: list[Id] = Field(default_factory=list, max_length=50)


@router.post("/org/service-users", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def create_service_user(request, data: ServiceUserIn):
    """Create a service user of my provider: both rooms, the visit bot and the chosen care
    managers in both, in one audited action."""
    fields = data.model_dump(exclude={"manager_ids"})
    su = check_create_service_user(_setup(request), manager_ids=data.manager_ids, **fields)
    return Status(201, _su_wire(su))


@router.get("/org/service-users/{su_id}", response={200: dict, 404: ErrorOut})
def get_service_user(request, su_id: Id):
    return _su_wire(access.access_setup_service_user(_setup(request), su_id))


@router.patch("/org/service-users/{su_id}", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def update_service_user(request, su_id: Id, data: DetailsIn):
    """Change details; only the fields sent. Audited with field names only."""
    su = check_update_service_user(_setup(request), su_id, **data.model_dump(exclude_unset=True))
    return _su_wire(su)


@router.post("/org/service-users/{su_id}/archive", response={200: dict, 404: ErrorOut})
def archive_service_user(request, su_id: Id):
    """End a person's care: rooms read-only, retention clock starts. Idempotent."""
    return _su_wire(check_archive_service_user(_setup(request), su_id))


class OwnAccountIn(Body):
    days: int = Days


@router.post(
    "/org/service-users/{su_id}/account-invitation",
    response={201: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def invite_own_account(request, su_id: Id, data: OwnAccountIn):
    """A single-use link for the service user's own (optional) account."""
    issued = check_invite_own_account(_setup(request), su_id, days=data.days)
    return Status(201, _issued(request, issued))


class TeamIn(Body):
    person_id: Id


@router.post("/org/service-users/{su_id}/team", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def assign_staff(request, su_id: Id, data: TeamIn):
    """Put a member of my provider's staff on this person's care team (every room their
    role allows). Idempotent on (room, person)."""
    ms = check_assign_staff(_setup(request), su_id, data.person_id)
    return Status(201, {"person": data.person_id, "rooms": sorted(m.room_id for m in ms)})
