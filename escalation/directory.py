"""Resolve who the steps can reach, and which policy applies, for one service user."""

from __future__ import annotations

import datetime as dt

from escalation.models import OnCallShift, ProviderPolicy
from escalation.policy import Directory, Policy, Shift, default_policy, parse_policy
from rooms.models import Membership, Organisation, Person, Role, Room, ServiceUser


def policy_for(provider: Organisation | int) -> Policy:
    """The provider's own policy, else the default; both validated."""
    pid = provider.pk if isinstance(provider, Organisation) else provider
    row = ProviderPolicy.objects.filter(provider_id=pid).first()
    return parse_policy(row.config) if row else default_policy()


def directory_for(su: ServiceUser, now: dt.datetime, until: dt.datetime | None = None) -> Directory:
    """Who the steps can reach for ``su``: the rota covering ``now`` — or, with ``until``,
    every shift overlapping [now, until) (the set-up preview runs the engine over a
    window; ``Directory.on_call`` picks the shifts covering each step's own time)."""
    assigned = Membership.objects.filter(
        room__service_user=su,
        room__kind=Room.Kind.PROFESSIONAL,
        removed_at__isnull=True,
        person__role=Role.CARE_MANAGER,
        person__organisation_id=su.provider_id,
    ).values_list("person_id", flat=True)
    provider_managers = Person.objects.filter(
        role=Role.CARE_MANAGER, organisation_id=su.provider_id
    ).values_list("id", flat=True)
    council = Person.objects.filter(
        role=Role.COMMISSIONER, organisation_id=su.council_id
    ).values_list("id", flat=True)
    shifts = OnCallShift.objects.filter(
        provider_id=su.provider_id, starts_at__lte=until or now, ends_at__gt=now
    )
    return Directory(
        assigned_managers=sorted(assigned),
        provider_managers=sorted(provider_managers),
        council_contacts=sorted(council),
        rota=[
            Shift(person=s.person_id, role=s.role, starts_at=s.starts_at, ends_at=s.ends_at)
            for s in shifts
        ],
    )
