"""Escalation set-up: the provider's on-call rota and policy, and the preview.

``check_*`` authorise through ``escalation.access.access_provider_setup`` (a care
manager's own provider), validate with pydantic, write in one transaction and audit
(ids only). The preview runs the engine's own pure code — ``escalation.policy.next_action``
over ``escalation.directory.directory_for`` — from an alert opened at ``now``, so what it
shows is what the ticker would do (assuming nobody acknowledges).

Guarantees: a shift names a care manager of the same provider; the same person cannot
hold two overlapping shifts of the same role (checked under a lock on the provider's
row, so two concurrent adds cannot both pass); a policy is saved only if it validates
(``escalation.policy.Policy``); nothing is written on any refusal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from pydantic import BaseModel, ConfigDict, model_validator

from cocare_chat import clock
from escalation.access import access_provider_setup
from escalation.directory import directory_for, policy_for
from escalation.models import OnCallShift, ProviderPolicy
from escalation.policy import AlertState, Policy, apply_plan, next_action, parse_policy
from escalation.schemas import Severity
from rooms import audit
from rooms.access import managed_service_users
from rooms.bounds import BoundedDatetime, Id
from rooms.errors import Invalid, NotFound
from rooms.models import Organisation, Person, Role, ServiceUser

MAX_SHIFT = dt.timedelta(days=14)
PREVIEW_HORIZON = dt.timedelta(days=7)
PREVIEW_STEPS = 60


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: Id
    role: Literal["primary", "deputy"]
    starts_at: BoundedDatetime
    ends_at: BoundedDatetime

    @model_validator(mode="after")
    def _sane(self) -> ShiftIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("times need a time zone")
        if self.ends_at <= self.starts_at:
            raise ValueError("a shift must end after it starts")
        if self.ends_at - self.starts_at > MAX_SHIFT:
            raise ValueError("a shift is at most 14 days long")
        return self


def rota(provider_id: int, now: dt.datetime) -> QuerySet[OnCallShift]:
    """Shifts not yet over, soonest first."""
    return (
        OnCallShift.objects.filter(provider_id=provider_id, ends_at__gt=now)
        .select_related("person")
        .order_by("starts_at", "id")
    )


def rota_people(provider_id: int) -> QuerySet[Person]:
    return Person.objects.filter(
        role=Role.CARE_MANAGER, organisation_id=provider_id, user__is_active=True
    ).order_by("display_name")


def check_add_shift(actor: Person, data: ShiftIn, now: dt.datetime | None = None) -> OnCallShift:
    provider = access_provider_setup(actor)
    now = now or clock.now()
    if data.ends_at <= now:
        raise Invalid("That shift is already over.")
    person = rota_people(provider.id).filter(pk=data.person).first()
    if person is None:
        raise NotFound("No such person.")
    with transaction.atomic():
        # Serialise shift changes per provider (its row) so the overlap check holds.
        Organisation.objects.select_for_update().filter(pk=provider.pk).first()
        if OnCallShift.objects.filter(
            provider=provider,
            person=person,
            role=data.role,
            starts_at__lt=data.ends_at,
            ends_at__gt=data.starts_at,
        ).exists():
            raise Invalid(f"{person.display_name} already has an overlapping {data.role} shift.")
        shift = OnCallShift.objects.create(
            provider=provider,
            person=person,
            role=data.role,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
        )
        audit.record(actor, "oncall.add", target=f"shift:{shift.id}", now=now)
    return shift


def check_remove_shift(actor: Person, shift_id: int, now: dt.datetime | None = None) -> None:
    provider = access_provider_setup(actor)
    now = now or clock.now()
    with transaction.atomic():
        n, _ = OnCallShift.objects.filter(pk=shift_id, provider=provider).delete()
        if not n:
            raise NotFound("No such shift.")
        audit.record(actor, "oncall.remove", target=f"shift:{shift_id}", now=now)


def validate_policy(config: Any) -> Policy:
    """A policy from a page or API body; Invalid with the first errors, in words."""
    try:
        return parse_policy(config)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors):
            parts = [
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}".lstrip(": ")
                for e in errors()[:5]
            ]
            raise Invalid("; ".join(parts)) from None
        raise Invalid(str(exc)) from None


def check_set_policy(actor: Person, config: Any, now: dt.datetime | None = None) -> Policy:
    """Save the provider's policy (validated first). Alerts already open keep their
    snapshot; new and reopened alerts use this one."""
    provider = access_provider_setup(actor)
    policy = validate_policy(config)
    now = now or clock.now()
    with transaction.atomic():
        ProviderPolicy.objects.update_or_create(
            provider=provider,
            defaults={
                "config": policy.model_dump(mode="json"),
                "updated_at": now,
                "updated_by": actor,
            },
        )
        audit.record(actor, "policy.set", target=f"provider:{provider.id}", now=now)
    return policy


def check_reset_policy(actor: Person, now: dt.datetime | None = None) -> Policy:
    """Back to the default policy."""
    provider = access_provider_setup(actor)
    now = now or clock.now()
    with transaction.atomic():
        ProviderPolicy.objects.filter(provider=provider).delete()
        audit.record(actor, "policy.reset", target=f"provider:{provider.id}", now=now)
    return policy_for(provider)


@dataclass(frozen=True)
class PreviewStep:
    at: dt.datetime
    step_type: str
    audience: str
    recipients: list[str]
    note: str


def preview(
    su: ServiceUser, severity: Severity, now: dt.datetime, policy: Policy | None = None
) -> list[PreviewStep]:
    """If an alert of ``severity`` opened for ``su`` at ``now`` and nobody acknowledged
    it: every step the engine would run, when, and who it would tell (names)."""
    policy = policy or policy_for(su.provider_id)
    directory = directory_for(su, now, until=now + PREVIEW_HORIZON)
    state = AlertState(state="open", severity=severity, step_index=0, next_step_at=now)
    t = now
    out: list[PreviewStep] = []
    for _ in range(PREVIEW_STEPS):
        plan = next_action(state, policy, t, directory)
        if plan is None:
            nxt = state.next_step_at
            if nxt is None or nxt <= t or nxt > now + PREVIEW_HORIZON:
                break
            t = nxt
            continue
        out.append(
            PreviewStep(
                at=plan.due_at,
                step_type=plan.step_type,
                audience=plan.audience,
                recipients=plan.recipients,  # type: ignore[arg-type]
                note=plan.note,
            )
        )
        state = apply_plan(state, plan)
    names = dict(
        Person.objects.filter(pk__in={p for s in out for p in s.recipients}).values_list(
            "id", "display_name"
        )
    )
    return [
        PreviewStep(
            s.at, s.step_type, s.audience, [names.get(p, "?") for p in s.recipients], s.note
        )
        for s in out
        if s.step_type != "wait" and s.step_type != "repeat"
    ]


def access_preview_service_user(actor: Person, su_id: int | None) -> ServiceUser:
    """The service user a preview is for: one of the actor's provider's (default: the
    first by name). NotFound otherwise."""
    access_provider_setup(actor)
    sus = managed_service_users(actor).order_by("full_name", "id")
    su = sus.filter(pk=su_id).first() if su_id is not None else sus.first()
    if su is None:
        raise NotFound("No such person.")
    return su
