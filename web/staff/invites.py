"""Staff and own-account invitations, and the first administrator's link (bootstrap).

The same machinery as family invitations (``web.invitations``, ``web.models.Invitation``):
- a token is 256 random bits; only its SHA-256 is stored, and the link is shown once;
- a link expires, and redeeming it is single use: the invitation row is locked and
  ``used_at`` is set by compare-and-set, so two concurrent redemptions cannot both succeed;
- redeeming is all or nothing (user, person, role, membership, ``used_at``, audit event).

Who may issue what is decided in ``rooms.access`` (``grantable_roles``,
``access_setup_service_user``).
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from cocare_chat import clock
from rooms import audit
from rooms.access import STAFF_GONE, access_setup_service_user, grantable_roles
from rooms.errors import Conflict, Invalid, NotFound
from rooms.models import Organisation, Person, Role, ServiceUser
from rooms.network import do_link_own_account
from web.invitations import MAX_DAYS, InvitationUnusable, Issued, token_hash
from web.models import Invitation

BOOTSTRAP_DAYS = 2


def _issue(
    *,
    kind: str,
    display_name: str,
    created_by: Person | None,
    days: int,
    now: dt.datetime,
    organisation: Organisation | None = None,
    role: str = "",
    email: str = "",
    service_user: ServiceUser | None = None,
) -> Issued:
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"An invitation lasts 1 to {MAX_DAYS} days.")
    name = display_name.strip()
    if not name:
        raise Invalid("Give the person's name.")
    token = secrets.token_urlsafe(32)
    inv = Invitation.objects.create(
        kind=kind,
        service_user=service_user,
        organisation=organisation,
        role=role,
        email=email.strip(),
        display_name=name,
        token_hash=token_hash(token),
        created_by=created_by,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    audit.record(
        created_by,
        "invitation.create",
        service_user=service_user,
        target=f"invitation:{inv.id}:{kind}",
        now=now,
    )
    return Issued(inv, token)


def check_invite_staff(
    admin: Person,
    *,
    display_name: str,
    role: str,
    email: str = "",
    days: int = 7,
    now: dt.datetime | None = None,
) -> Issued:
    """An administrator invites a member of staff to their own organisation, with a role
    they may grant. Audited as ``invitation.create``."""
    roles = grantable_roles(admin)
    if not roles:
        raise NotFound(STAFF_GONE)
    if role not in roles:
        raise Invalid("Choose one of the roles you may give.")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise Invalid("That email address does not look right.") from None
    now = now or clock.now()
    with transaction.atomic():
        return _issue(
            kind=Invitation.Kind.STAFF,
            display_name=display_name,
            created_by=admin,
            days=days,
            now=now,
            organisation=admin.organisation,
            role=role,
            email=email,
        )


def check_invite_own_account(
    actor: Person, su_id: int, *, days: int = 7, now: dt.datetime | None = None
) -> Issued:
    """The service user's own account (optional): a link for them, issued by whoever sets
    them up (``access_setup_service_user``). Conflict if they already have one."""
    su = access_setup_service_user(actor, su_id)
    if su.person_id is not None:
        raise Conflict("This person already has their own account.")
    if su.archived_at is not None:
        raise Invalid("This person's care has ended.")
    now = now or clock.now()
    with transaction.atomic():
        return _issue(
            kind=Invitation.Kind.SERVICE_USER,
            display_name=su.full_name,
            created_by=actor,
            days=days,
            now=now,
            service_user=su,
        )


def do_bootstrap(
    *, council: str, provider: str, admin_email: str, now: dt.datetime | None = None
) -> tuple[Organisation, Organisation, Issued]:
    """A new deployment's first step: the council, the provider it commissions, and a
    link for the provider's first administrator (expires after ``BOOTSTRAP_DAYS``).

    Only on an empty database: Conflict (nothing written) when any organisation exists,
    so running it twice never makes a second deployment or a second administrator.
    """
    council, provider, admin_email = council.strip(), provider.strip(), admin_email.strip()
    if not council or not provider:
        raise Invalid("Give both the council's and the provider's name.")
    if len(council) > 200 or len(provider) > 200:
        raise Invalid("An organisation's name is at most 200 characters.")
    if "@" not in admin_email or len(admin_email) > 254:
        raise Invalid("Give the administrator's email address.")
    now = now or clock.now()
    with transaction.atomic():
        if Organisation.objects.exists():
            raise Conflict(
                "Organisations already exist: bootstrap only sets up an empty database. "
                "Invite further administrators from the Staff page."
            )
        c = Organisation.objects.create(name=council, kind=Organisation.Kind.COUNCIL)
        p = Organisation.objects.create(
            name=provider, kind=Organisation.Kind.PROVIDER, commissioned_by=c
        )
        issued = _issue(
            kind=Invitation.Kind.STAFF,
            display_name=admin_email.split("@")[0],
            created_by=None,
            days=BOOTSTRAP_DAYS,
            now=now,
            organisation=p,
            role=Role.PROVIDER_ADMIN,
            email=admin_email,
        )
        audit.record(None, "bootstrap", target=f"organisation:{c.id},{p.id}", now=now)
    return c, p, issued


def _new_user(username: str, password: str, email: str = ""):
    User = get_user_model()
    user = User(username=username, email=email)
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
    return user


def redeem_account_invitation(
    token: str, *, username: str, password: str, now: dt.datetime | None = None
) -> Person:
    """Redeem a staff or own-account link: the account, person (and, for the service
    user, the link to their record and the family room), once.

    Raises InvitationUnusable (unknown, used, expired, cancelled, or care ended) or Invalid
    (username taken, weak password) — nothing written then.
    """
    now = now or clock.now()
    with transaction.atomic():
        inv = (
            Invitation.objects.select_for_update()
            .filter(
                token_hash=token_hash(token),
                kind__in=[Invitation.Kind.STAFF, Invitation.Kind.SERVICE_USER],
            )
            .first()
        )
        if inv is None:
            raise InvitationUnusable("invalid")
        status = inv.status(now)
        if status != "pending":
            raise InvitationUnusable(status)
        su = None
        if inv.kind == Invitation.Kind.SERVICE_USER:
            su = ServiceUser.objects.select_for_update().get(pk=inv.service_user_id)
            if su.archived_at is not None or su.person_id is not None:
                raise InvitationUnusable("withdrawn")
        user = _new_user(username, password, inv.email)
        if inv.kind == Invitation.Kind.STAFF:
            person = Person.objects.create(
                user=user,
                display_name=inv.display_name,
                role=inv.role,
                organisation_id=inv.organisation_id,
            )
        else:
            person = Person.objects.create(
                user=user, display_name=inv.display_name, role=Role.SERVICE_USER
            )
        if not Invitation.objects.filter(pk=inv.pk, used_at__isnull=True).update(
            used_at=now, used_by=person
        ):
            raise InvitationUnusable("used")
        if su is not None:
            do_link_own_account(su, person, by=inv.created_by, now=now)
        audit.record(
            person,
            "invitation.redeem",
            service_user=inv.service_user_id,
            target=f"invitation:{inv.id}",
            now=now,
        )
    return person


def check_cancel_staff_invitation(
    admin: Person, invitation_id: int, *, now: dt.datetime | None = None
) -> Invitation:
    """An administrator withdraws an unused staff link of their organisation (NotFound for
    anyone else's). Idempotent: a used or cancelled link stays as it is."""
    if not grantable_roles(admin):
        raise NotFound(STAFF_GONE)
    inv = Invitation.objects.filter(
        pk=invitation_id, kind=Invitation.Kind.STAFF, organisation_id=admin.organisation_id
    ).first()
    if inv is None:
        raise NotFound(STAFF_GONE)
    now = now or clock.now()
    with transaction.atomic():
        Invitation.objects.filter(
            pk=inv.pk, used_at__isnull=True, cancelled_at__isnull=True
        ).update(cancelled_at=now)
        audit.record(admin, "invitation.cancel", target=f"invitation:{inv.id}", now=now)
    inv.refresh_from_db()
    return inv
