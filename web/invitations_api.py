"""Family invitations in the API (``web.invitations``): the care manager invites a family
member with their lawful basis and gets the single-use link once; or withdraws it.
Refusals are the one 404; bodies reject undeclared fields."""

from __future__ import annotations

from ninja import Field, Router, Status

from cocare_chat import clock
from rooms import ratelimit
from rooms.api import Body, ErrorOut, me
from rooms.bounds import Id
from rooms.errors import NotFound
from rooms.network import FamilyBasisIn
from web.invitations import MAX_DAYS, check_cancel_invitation, check_create_invitation
from web.models import Invitation

router = Router(tags=["family lawful basis"])
REFUSED = "No such room or person."


class InviteIn(Body):
    display_name: str = Field(min_length=1, max_length=120)
    relationship: str = Field(default="", max_length=60)
    days: int = Field(default=7, ge=1, le=MAX_DAYS)
    basis: FamilyBasisIn
    history_before_join: bool = False


@router.post(
    "/service-users/{su_id}/family/invitations",
    response={201: dict, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def invite(request, su_id: Id, data: InviteIn):
    """The link is in the answer once (only its hash is stored)."""
    person = me(request)
    ratelimit.hit("invite", person.id)
    try:
        issued = check_create_invitation(
            person,
            su_id,
            display_name=data.display_name,
            relationship=data.relationship,
            days=data.days,
            basis=data.basis,
            history_before_join=data.history_before_join,
        )
    except NotFound:  # one body whatever the reason (unknown, another tenant, no right)
        raise NotFound(REFUSED) from None
    inv = issued.invitation
    return Status(
        201,
        {
            "id": inv.id,
            "link": request.build_absolute_uri(f"/invite/{issued.token}/"),
            "expires_at": inv.expires_at.isoformat(),
            "basis": inv.basis,
            "review_on": inv.basis_review_on.isoformat() if inv.basis_review_on else None,
        },
    )


@router.post(
    "/service-users/{su_id}/family/invitations/{invitation_id}/cancel",
    response={200: dict, 404: ErrorOut},
)
def cancel(request, su_id: Id, invitation_id: Id):
    person = me(request)
    if not Invitation.objects.filter(pk=invitation_id, service_user_id=su_id).exists():
        raise NotFound(REFUSED)
    try:
        inv = check_cancel_invitation(person, invitation_id)
    except NotFound:
        raise NotFound(REFUSED) from None
    return {"id": inv.id, "status": inv.status(clock.now())}
