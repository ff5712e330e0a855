"""Inviting family: record the lawful basis, issue a single-use link, redeem it.

``check_*`` authorise through ``rooms.access`` (managing the family room) then act.
Guarantees:
- an invitation carries the lawful basis the manager recorded for the invitee
  (``rooms.network.FamilyBasisIn``, required) and the person's choice about earlier
  history; redeeming records that basis for the new member
  (``rooms.network.do_record_family_basis``) in the same transaction as the membership;
- a token is 256 random bits; only its SHA-256 is stored;
- redeeming is all or nothing (user, person, membership, ``used_at``) and single use: the
  invitation row is locked and ``used_at`` is set by compare-and-set, so two concurrent
  redemptions cannot both succeed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cocare_chat import clock
from rooms import audit
from rooms.access import Action, access_room, may_join
from rooms.errors import Invalid, NotFound
from rooms.models import Person, Role, Room, ServiceUser
from rooms.network import FamilyBasisIn, do_add_member, do_record_family_basis
from web.models import Invitation

MAX_DAYS = 30


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def family_room(su: ServiceUser | int) -> Room:
    su_id = su.pk if isinstance(su, ServiceUser) else su
    return Room.objects.select_related("service_user").get(
        service_user_id=su_id, kind=Room.Kind.FAMILY
    )


def access_manage_family(actor: Person | None, su_id: int) -> Room:
    """The family room of ``su_id`` if ``actor`` may manage its members; NotFound otherwise."""
    room = Room.objects.filter(service_user_id=su_id, kind=Room.Kind.FAMILY).first()
    if room is None:
        raise NotFound("No such person.")
    room, _ = access_room(actor, room.id, Action.MANAGE)
    return room


@dataclass(frozen=True)
class Issued:
    invitation: Invitation
    token: str


def check_create_invitation(
    actor: Person,
    su_id: int,
    *,
    display_name: str,
    relationship: str = "",
    days: int = 7,
    basis: FamilyBasisIn | None = None,
    history_before_join: bool = False,
    now: dt.datetime | None = None,
) -> Issued:
    """Issue a single-use link for a new family member, with their lawful basis."""
    room = access_manage_family(actor, su_id)
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"An invitation lasts 1 to {MAX_DAYS} days.")
    if basis is None:
        raise Invalid("Record the lawful basis for sharing with this family member.")
    now = now or clock.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        su = ServiceUser.objects.select_for_update().get(pk=room.service_user_id)
        inv = Invitation.objects.create(
            basis=basis.basis,
            basis_notes=basis.notes,
            basis_decision=basis.decision,
            basis_lpa_reference=basis.lpa_reference,
            basis_review_on=basis.review_on,
            history_before_join=history_before_join,
            service_user=su,
            display_name=display_name.strip(),
            relationship=relationship.strip(),
            token_hash=token_hash(token),
            created_by=actor,
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        audit.record(
            actor, "invitation.create", service_user=su, target=f"invitation:{inv.id}", now=now
        )
    return Issued(inv, token)


def check_cancel_invitation(
    actor: Person, invitation_id: int, now: dt.datetime | None = None
) -> Invitation:
    inv = Invitation.objects.filter(pk=invitation_id).first()
    if inv is None:
        raise NotFound("No such invitation.")
    access_manage_family(actor, inv.service_user_id)
    now = now or clock.now()
    with transaction.atomic():
        Invitation.objects.filter(
            pk=inv.pk, used_at__isnull=True, cancelled_at__isnull=True
        ).update(cancelled_at=now)
        audit.record(
            actor,
            "invitation.cancel",
            service_user=inv.service_user_id,
            target=f"invitation:{inv.id}",
            now=now,
        )
    inv.refresh_from_db()
    return inv


def find_invitation(token: str) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    return (
        Invitation.objects.select_related("service_user")
        .filter(token_hash=token_hash(token))
        .first()
    )


class InvitationUnusable(Exception):
    """The link is used, expired or cancelled (``status`` says which)."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


def redeem_invitation(
    token: str, *, username: str, password: str, now: dt.datetime | None = None
) -> Person:
    """Create the family member's account, person and family-room membership, once.

    The lawful basis the manager recorded on the invitation is recorded for the new
    member (recorded by the inviting manager) in the same transaction.
    Raises NotFound (unknown token), InvitationUnusable (used/expired/cancelled, or no
    basis on the invitation) or Invalid (username taken, weak password) — nothing written.
    """
    now = now or clock.now()
    User = get_user_model()
    with transaction.atomic():
        inv = (
            Invitation.objects.select_for_update()
            .filter(token_hash=token_hash(token), kind=Invitation.Kind.FAMILY)
            .first()
        )
        if inv is None:
            raise NotFound("This invitation link is not valid.")
        status = inv.status(now)
        if status != "pending":
            raise InvitationUnusable(status)
        if not inv.basis or inv.basis_review_on is None:
            raise InvitationUnusable("withdrawn")
        user = User(username=username)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise Invalid(" ".join(exc.messages)) from None
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise Invalid("That username is taken; choose another.") from None
        person = Person.objects.create(user=user, display_name=inv.display_name, role=Role.FAMILY)
        if not Invitation.objects.filter(pk=inv.pk, used_at__isnull=True).update(
            used_at=now, used_by=person
        ):
            raise InvitationUnusable("used")
        room = family_room(inv.service_user_id)
        basis = FamilyBasisIn(
            basis=inv.basis,  # type: ignore[arg-type]
            notes=inv.basis_notes,
            decision=inv.basis_decision,
            lpa_reference=inv.basis_lpa_reference,
            review_on=inv.basis_review_on,
        )
        do_record_family_basis(room.service_user, person, basis, by=inv.created_by, now=now)
        # The tenancy rule decides here too: family of this service user, basis recorded.
        if not may_join(person, room, invited_for=inv.service_user_id):
            raise InvitationUnusable("withdrawn")
        do_add_member(
            room,
            person,
            by=inv.created_by,
            now=now,
            history_before_join=inv.history_before_join,
        )
        audit.record(
            person,
            "invitation.redeem",
            service_user=inv.service_user_id,
            target=f"invitation:{inv.id}",
            now=now,
        )
    return person
