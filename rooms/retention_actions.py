"""Retention policy and legal holds as actions of the provider's care managers.

``check_*`` authorise (a care manager sets their own provider's policy; holds on the
provider's service users only — anyone else: NotFound, one answer whatever the reason),
then write through ``rooms.retention`` and record one audit event in the same
transaction: ``retention.policy_set`` (target ``days:<n>|positions:<n>``),
``legal_hold.placed`` / ``legal_hold.released`` (the person's id; never the reason text).
Placing a hold twice or releasing none is harmless (idempotent on the active hold).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cocare_chat import clock
from rooms import audit
from rooms.access import is_provider_manager
from rooms.errors import NotFound
from rooms.models import LegalHold, Organisation, Person, RetentionPolicy, Role, ServiceUser
from rooms.retention import place_hold, release_hold, set_policy

MAX_DAYS = 36500  # a hundred years; "keep" is null, not a huge number


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_days: int | None = Field(default=None, ge=30, le=MAX_DAYS)
    position_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)

    @model_validator(mode="after")
    def _positions_not_longer(self) -> PolicyIn:
        if self.position_days is not None and self.message_days is None:
            raise ValueError("set a content period before a shorter position period")
        if self.position_days and self.message_days and self.position_days > self.message_days:
            raise ValueError("positions cannot be kept longer than the content")
        return self


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=200)


def provider_of(actor: Person) -> Organisation:
    if actor.role != Role.CARE_MANAGER or actor.organisation_id is None:
        raise NotFound("Not found.")
    return Organisation.objects.get(pk=actor.organisation_id)


def managed_service_user(actor: Person, su_id: int) -> ServiceUser:
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is None or not is_provider_manager(actor, su):
        raise NotFound("Not found.")
    return su


def policy_of(actor: Person) -> RetentionPolicy | None:
    return RetentionPolicy.objects.filter(provider=provider_of(actor)).first()


def check_set_policy(
    actor: Person, data: PolicyIn, *, now: dt.datetime | None = None
) -> RetentionPolicy:
    provider = provider_of(actor)
    now = now or clock.now()
    with transaction.atomic():
        policy = set_policy(provider, data.message_days, position_days=data.position_days, now=now)
        audit.record(
            actor,
            "retention.policy_set",
            target=f"days:{data.message_days}|positions:{data.position_days}",
            now=now,
        )
    return policy


def check_place_hold(
    actor: Person, su_id: int, data: HoldIn, *, now: dt.datetime | None = None
) -> LegalHold:
    su = managed_service_user(actor, su_id)
    now = now or clock.now()
    with transaction.atomic():
        had = LegalHold.objects.filter(service_user=su, released_at__isnull=True).exists()
        hold = place_hold(su, by=actor, reason=data.reason, now=now)
        if not had:
            audit.record(
                actor, "legal_hold.placed", service_user=su, target=f"hold:{hold.id}", now=now
            )
    return hold


def check_release_hold(actor: Person, su_id: int, *, now: dt.datetime | None = None) -> int:
    su = managed_service_user(actor, su_id)
    now = now or clock.now()
    with transaction.atomic():
        n = release_hold(su, now=now)
        if n:
            audit.record(actor, "legal_hold.released", service_user=su, now=now)
    return n


def holds_for(actor: Person) -> dict[int, LegalHold]:
    """Active holds on the actor's provider's service users, by service user id."""
    provider = provider_of(actor)
    return {
        h.service_user_id: h
        for h in LegalHold.objects.filter(
            service_user__provider=provider, released_at__isnull=True
        ).select_related("placed_by")
    }
