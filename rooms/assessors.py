"""Allocating council assessors to people's cases: ``do_*`` mutate, ``check_*`` authorise.

An assessor (role ``assessor``) belongs to a council and may be allocated only people whose
council is theirs. The council's commissioners allocate and end allocations
(:func:`check_allocate`, :func:`check_end_allocation`); every change is audited. What an
allocation grants is decided in ``rooms.access.assessor_allocated``.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from cocare_chat import clock
from rooms import audit
from rooms.errors import Conflict, Invalid, NotFound
from rooms.models import AssessorAllocation, Organisation, Person, Role, ServiceUser


def do_allocate(
    assessor: Person,
    service_user: ServiceUser,
    *,
    by: Person,
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    now: dt.datetime | None = None,
) -> AssessorAllocation:
    """Allocate ``assessor`` to ``service_user`` from ``starts_on`` (default today, local)
    to ``ends_on`` (inclusive; None: until ended). Idempotent on (assessor, person, start)."""
    now = now or clock.now()
    starts_on = starts_on or timezone.localdate(now)
    if assessor.role != Role.ASSESSOR:
        raise Invalid("Only a council assessor can be allocated a case.")
    council = assessor.organisation
    if council is None or council.kind != Organisation.Kind.COUNCIL:
        raise Invalid("The assessor must belong to a council.")
    if council.pk != service_user.council_id:
        raise Invalid("An assessor can be allocated only people of their own council.")
    if ends_on is not None and ends_on < starts_on:
        raise Invalid("ends_on: must not be before starts_on.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                allocation = AssessorAllocation.objects.create(
                    assessor=assessor,
                    service_user=service_user,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    allocated_by=by,
                    allocated_at=now,
                )
        except IntegrityError:
            raise Conflict("That allocation is already recorded.") from None
        audit.record(
            by,
            "assessor.allocate",
            service_user=service_user,
            target=f"person:{assessor.id}",
            now=now,
        )
    return allocation


def do_end_allocation(
    allocation: AssessorAllocation,
    *,
    by: Person,
    ends_on: dt.date | None = None,
    now: dt.datetime | None = None,
) -> AssessorAllocation | None:
    """End the allocation after ``ends_on`` (default: yesterday, so access stops now).

    An allocation that has not started yet granted nothing: it is withdrawn (deleted) and
    None is returned; the audit log keeps both the allocation and its withdrawal.
    """
    now = now or clock.now()
    ends_on = ends_on or timezone.localdate(now) - dt.timedelta(days=1)
    with transaction.atomic():
        allocation = AssessorAllocation.objects.select_for_update().get(pk=allocation.pk)
        audit.record(
            by,
            "assessor.end_allocation",
            service_user=allocation.service_user_id,
            target=f"person:{allocation.assessor_id}",
            now=now,
        )
        if ends_on < allocation.starts_on:
            allocation.delete()
            return None
        if allocation.ends_on is None or ends_on < allocation.ends_on:
            allocation.ends_on = ends_on
            allocation.ended_by = by
            allocation.save(update_fields=["ends_on", "ended_by"])
    return allocation


def _council_commissioner(actor: Person | None, service_user: ServiceUser) -> None:
    if (
        actor is None
        or actor.role != Role.COMMISSIONER
        or actor.organisation_id != service_user.council_id
    ):
        raise NotFound("No such person.")


def check_allocate(
    actor: Person | None,
    assessor_id: int,
    service_user_id: int,
    *,
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
) -> AssessorAllocation:
    su = ServiceUser.objects.filter(pk=service_user_id).first()
    if su is None:
        raise NotFound("No such person.")
    _council_commissioner(actor, su)
    assessor = Person.objects.filter(
        pk=assessor_id, role=Role.ASSESSOR, organisation_id=su.council_id
    ).first()
    if assessor is None:
        raise NotFound("No such person.")
    return do_allocate(assessor, su, by=actor, starts_on=starts_on, ends_on=ends_on)


def check_end_allocation(actor: Person | None, allocation_id: int) -> AssessorAllocation | None:
    allocation = (
        AssessorAllocation.objects.select_related("service_user").filter(pk=allocation_id).first()
    )
    if allocation is None:
        raise NotFound("No such allocation.")
    try:
        _council_commissioner(actor, allocation.service_user)
    except NotFound:
        raise NotFound("No such allocation.") from None
    return do_end_allocation(allocation, by=actor)
