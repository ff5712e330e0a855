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

from bots.runner import bot_for
from rooms.access import access_setup_service_user, sets_up_service_users
from rooms.errors import Invalid, NotFound
from rooms.models import Organisation, Person, Role, ServiceUser
from rooms.network import do_archive_service_user, do_create_service_user, do_update_service_user

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
        raise NotFound("No such page.")
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
    if fields.get("checkin_radius_m") is None:
        fields.pop("checkin_radius_m", None)
    if fields.get("commissioned_hours_per_week") is None:
        fields.pop("commissioned_hours_per_week", None)
    return do_update_service_user(su, by=actor, now=now, **fields)


def check_archive_service_user(
    actor: Person, su_id: int, *, now: dt.datetime | None = None
) -> ServiceUser:
    """End a person's care (rooms read-only, retention clock starts). Idempotent."""
    su = access_setup_service_user(actor, su_id)
    do_archive_service_user(su, by=actor, now=now)
    return su
