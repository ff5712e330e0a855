"""Exceptions-queue actions: review a location exception, exempt a person's home.

``check_*`` authorise through ``rooms.access.is_provider_manager`` (the person's
provider's care managers) and answer NotFound for anything else — missing, another
provider's, or not a location exception the caller may act on — so ids cannot be probed.
Each change is one transaction with one audit event (the decision, never the note text).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field

from bots.models import Visit
from cocare_chat import clock
from rooms import audit
from rooms.access import is_provider_manager
from rooms.errors import Invalid, NotFound
from rooms.models import Person, ServiceUser
from rooms.network import do_update_service_user

BAD_LOCATIONS = (Visit.Location.OUT_OF_RANGE, Visit.Location.NO_LOCATION)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["accepted", "disputed"]
    note: str = Field(min_length=3, max_length=300)


class ExemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    exempt: bool
    reason: str = Field(default="", max_length=200)


def is_location_exception(v: Visit) -> bool:
    return v.checkin_location in BAD_LOCATIONS or v.checkout_location in BAD_LOCATIONS


def check_review_location_exception(
    actor: Person, visit_id: int, data: ReviewIn, *, now: dt.datetime | None = None
) -> Visit:
    """Accept or dispute a visit's location exception with a note.

    Locks the visit row; a later review replaces an earlier one (both stay in the audit
    log). Audit: ``location_exception.accepted`` / ``.disputed``, target ``visit:<id>``."""
    now = now or clock.now()
    with transaction.atomic():
        v = Visit.objects.select_for_update().filter(pk=visit_id).first()
        if v is None or not is_location_exception(v):
            raise NotFound("Not found.")
        su = ServiceUser.objects.get(pk=v.service_user_id)
        if not is_provider_manager(actor, su):
            raise NotFound("Not found.")
        v.exception_review = data.decision
        v.exception_review_note = data.note
        v.exception_reviewed_by = actor
        v.exception_reviewed_at = now
        v.save(
            update_fields=[
                "exception_review",
                "exception_review_note",
                "exception_reviewed_by",
                "exception_reviewed_at",
            ]
        )
        audit.record(
            actor,
            f"location_exception.{data.decision}",
            service_user=su,
            target=f"visit:{v.id}",
            now=now,
        )
    return v


def check_set_location_exemption(
    actor: Person, su_id: int, data: ExemptionIn, *, now: dt.datetime | None = None
) -> ServiceUser:
    """Exempt (or stop exempting) a person's home from the location check, with a reason.

    Through ``rooms.network.do_update_service_user`` (audited with the field names)."""
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is None or not is_provider_manager(actor, su):
        raise NotFound("Not found.")
    if data.exempt and len(data.reason) < 3:
        raise Invalid("Say why this home is exempt (for example: no mobile signal).")
    return do_update_service_user(
        su,
        by=actor,
        now=now,
        location_exempt=data.exempt,
        location_exempt_reason=data.reason if data.exempt else "",
    )
