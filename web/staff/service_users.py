"""Service users set up by their provider's administrator or care manager.

Authorised through ``rooms.access`` (``sets_up_service_users``,
``access_setup_service_user``); written through ``rooms.network`` (``do_create_service_user``
with the visit bot's and the chosen managers' memberships in the same transaction,
``do_update_service_user``, ``do_archive_service_user``), each audited there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.db import models, transaction

from bots.runner import bot_for
from rooms.access import (
    STAFF_GONE,
    STAFF_ROLES,
    access_setup_service_user,
    may_join,
    role_allowed,
    sets_up_service_users,
)
from rooms.errors import Invalid, NotFound
from rooms.models import Membership, Organisation, Person, Role, Room, ServiceUser
from rooms.network import (
    do_add_member,
    do_archive_service_user,
    do_create_service_user,
    do_update_service_user,
)

# What the set-up pages edit; key information and goals have their own pages.
DETAIL_FIELDS = (
    "full_name",
    "preferred_name",
    "home_lat",
    "home_lon",
    "checkin_radius_m",
    "commissioned_hours_per_week",
)
NO_MANAGER = "Choose care managers from your own provider."


def choosable_managers(actor: Person):
    """Care managers of the actor's provider with an active account."""
    return Person.objects.filter(
        organisation_id=actor.organisation_id,
        role=Role.CARE_MANAGER,
        user__is_active=True,
    ).order_by("display_name")


def check_create_service_user(
    actor: Person,
    *,
    full_name: str,
    preferred_name: str = "",
    manager_ids: Sequence[int] = (),
    now: dt.datetime | None = None,
    **details,
) -> ServiceUser:
    """Create a service user of the actor's provider, commissioned by the provider's
    council: both rooms, the provider's visit bot in both, and the chosen care managers
    (the actor too, if a care manager) — one transaction, audited. Unknown or foreign
    manager ids are refused (nothing written)."""
    if not sets_up_service_users(actor):
        raise NotFound(STAFF_GONE)
    provider = Organisation.objects.get(pk=actor.organisation_id)
    if provider.commissioned_by_id is None:
        raise Invalid("Your provider has no commissioning council recorded.")
    if not full_name.strip():
        raise Invalid("Give the person's full name.")
    wanted = set(manager_ids)
    if actor.role == Role.CARE_MANAGER:
        wanted.add(actor.pk)
    managers = list(choosable_managers(actor).filter(pk__in=wanted))
    if len(managers) != len(wanted):
        raise Invalid(NO_MANAGER)
    bad = set(details) - set(DETAIL_FIELDS)
    if bad:
        raise Invalid(f"{', '.join(sorted(bad))} cannot be set here.")
    return do_create_service_user(
        full_name=full_name.strip(),
        preferred_name=preferred_name.strip(),
        provider=provider,
        council=Organisation.objects.get(pk=provider.commissioned_by_id),
        created_by=actor,
        now=now,
        members=[bot_for(provider), *managers],
        **{k: v for k, v in details.items() if v is not None},
    )


def check_update_service_user(
    actor: Person, su_id: int, *, now: dt.datetime | None = None, **fields
) -> ServiceUser:
    """Edit a service user's details (``DETAIL_FIELDS``); audited with field names only."""
    su = access_setup_service_user(actor, su_id)
    bad = set(fields) - set(DETAIL_FIELDS)
    if bad:
        raise Invalid(f"{', '.join(sorted(bad))} cannot be changed here.")
    if "full_name" in fields:
        fields["full_name"] = (fields["full_name"] or "").strip()
        if not fields["full_name"]:
            raise Invalid("Give the person's full name.")
    if fields.get("commissioned_hours_per_week") is not None:
        fields["commissioned_hours_per_week"] = Decimal(
            str(fields["commissioned_hours_per_week"])
        ).quantize(Decimal("0.01"))
    for name in [n for n, v in fields.items() if v is None]:
        # null on a column that cannot hold it: text means "clear it", anything else
        # (a number, a radius) means "leave it as it is".
        field = ServiceUser._meta.get_field(name)
        if field.null:
            continue
        if isinstance(field, (models.CharField, models.TextField)):
            fields[name] = ""
        else:
            fields.pop(name)
    return do_update_service_user(su, by=actor, now=now, **fields)


def check_archive_service_user(
    actor: Person, su_id: int, *, now: dt.datetime | None = None
) -> ServiceUser:
    """End a person's care (rooms read-only, retention clock starts). Idempotent."""
    su = access_setup_service_user(actor, su_id)
    do_archive_service_user(su, by=actor, now=now)
    return su


# Refusal of a person to add to the care team: one text whatever the reason.
NO_SUCH_STAFF = STAFF_GONE


def assignable_staff(actor: Person):
    """Staff of the actor's provider who can hold a room membership, with an active account."""
    return (
        Person.objects.filter(
            organisation_id=actor.organisation_id,
            role__in=STAFF_ROLES - {Role.BOT},
            user__is_active=True,
        )
        .select_related("organisation")
        .order_by("display_name")
    )


def care_team(su: ServiceUser) -> list[Person]:
    """Staff with an active membership of either room (bots excluded)."""
    return list(
        Person.objects.filter(
            memberships__room__service_user=su, memberships__removed_at__isnull=True
        )
        .exclude(role__in=[Role.BOT, Role.FAMILY, Role.SERVICE_USER])
        .distinct()
        .order_by("display_name")
    )


def check_assign_staff(
    actor: Person, su_id: int, person_id: int, *, now: dt.datetime | None = None
) -> list[Membership]:
    """Put a member of the provider's staff on a service user's care team: they join every
    room their role allows (``rooms.access.may_join`` decides each), in one transaction,
    with the usual join notice. A set-up action of the provider's administrator or care
    manager (``access_setup_service_user``); idempotent on (room, person). Anyone outside
    the provider's staff is refused with one NotFound text, nothing written."""
    su = access_setup_service_user(actor, su_id)
    if su.archived_at is not None:
        raise Invalid("This person's care has ended.")
    person = assignable_staff(actor).filter(pk=person_id).first()
    if person is None:
        raise NotFound(NO_SUCH_STAFF)
    rooms = [
        r
        for r in Room.objects.select_related("service_user").filter(service_user=su)
        if role_allowed(person.role, r.kind) and may_join(person, r)
    ]
    if not rooms:
        raise NotFound(NO_SUCH_STAFF)
    with transaction.atomic():
        return [do_add_member(r, person, by=actor, now=now) for r in rooms]
