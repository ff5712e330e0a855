"""Skipped and failing work, as the provider's care managers see it (the exceptions page).

A log entry a consumer skipped (``ConsumerFailure``) or a row a timer worker skipped
(``WorkerFailure``) is a safeguarding matter: a flag that was never raised, a missed visit
never reported. Each is shown to the care managers of the service user's provider — never
to anyone else, and never with the message body: room, seq, time and which worker — until
one of them marks it reviewed (``check_review_failure``; audited). Reviewed entries stop
counting in ``manage.py health``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from django.db import transaction
from django.db.models import Q

from cocare_chat import clock
from rooms import access, audit
from rooms.errors import Invalid, NotFound
from rooms.logorder import START, LogPos, position_of
from rooms.models import (
    ConsumerCursor,
    ConsumerFailure,
    Person,
    Room,
    ServiceUser,
    WorkerFailure,
)

Kind = Literal["entry", "row"]
SHOWN = 100


@dataclass(frozen=True)
class FailureView:
    kind: Kind  # "entry": a log entry a consumer failed on; "row": a timer worker's row
    id: int
    worker: str
    service_user: ServiceUser
    room: Room | None  # entries only
    seq: int | None  # entries only
    ref_model: str  # rows only: e.g. "bots.plannedvisit"
    ref_id: int | None
    attempts: int
    error: str
    skipped: bool
    first_at: dt.datetime
    last_at: dt.datetime
    reviewed_at: dt.datetime | None
    reviewed_by: Person | None


def failures_for(person: Person, reviewed_since: dt.datetime) -> list[FailureView]:
    """Failures about the service users ``person`` manages, newest first: entries skipped
    or still being retried, rows skipped or failing; reviewed ones since ``reviewed_since``.
    """
    sus = access.managed_service_users(person)
    recent = Q(reviewed_at__isnull=True) | Q(reviewed_at__gte=reviewed_since)
    positions = {
        name: LogPos(txid, pos)
        for name, txid, pos in ConsumerCursor.objects.values_list("name", "txid", "position")
    }
    entries = [
        f
        for f in ConsumerFailure.objects.filter(recent, message__room__service_user__in=sus)
        .select_related("message__room__service_user", "reviewed_by")
        .defer("message__body", "message__edited_body", "message__payload")  # never shown
        .order_by("-last_at")[:SHOWN]
        # not skipped and behind the cursor: it succeeded on a later attempt
        if f.skipped or position_of(f.message) > positions.get(f.consumer, START)
    ]
    rows = (
        WorkerFailure.objects.filter(recent, service_user__in=sus, resolved_at__isnull=True)
        .select_related("service_user", "reviewed_by")
        .order_by("-last_at")[:SHOWN]
    )
    out = [
        FailureView(
            "entry",
            f.id,
            f.consumer,
            f.message.room.service_user,
            f.message.room,
            f.message.seq,
            "",
            None,
            f.attempts,
            f.error,
            f.skipped,
            f.first_at,
            f.last_at,
            f.reviewed_at,
            f.reviewed_by,
        )
        for f in entries
    ]
    out += [
        FailureView(
            "row",
            f.id,
            f.worker,
            f.service_user,
            None,
            None,
            f.ref_model,
            f.ref_id,
            f.attempts,
            f.error,
            f.skipped,
            f.first_at,
            f.last_at,
            f.reviewed_at,
            f.reviewed_by,
        )
        for f in rows
    ]
    return sorted(out, key=lambda v: v.last_at, reverse=True)


def _failure(kind: str, failure_id: int) -> tuple[ConsumerFailure | WorkerFailure, int | None]:
    if kind == "entry":
        f = ConsumerFailure.objects.select_related("message__room").filter(pk=failure_id).first()
        return f, (f.message.room.service_user_id if f else None)
    if kind == "row":
        f = WorkerFailure.objects.filter(pk=failure_id).first()
        return f, (f.service_user_id if f else None)
    raise NotFound("No such failure.")


def check_review_failure(
    person: Person, kind: str, failure_id: int, now: dt.datetime | None = None
) -> None:
    """Record that a care manager of the service user's provider reviewed a skipped entry.

    Refusals (no such failure, another provider's, not a manager) are one NotFound.
    Idempotent: a second review keeps the first reviewer and time.
    """
    f, su_id = _failure(kind, failure_id)
    if (
        f is None
        or su_id is None
        or not access.managed_service_users(person).filter(pk=su_id).exists()
    ):
        raise NotFound("No such failure.")
    if not f.skipped:
        raise Invalid("Only skipped entries are reviewed; this one is still being retried.")
    now = now or clock.now()
    with transaction.atomic():
        updated = (
            type(f)
            .objects.filter(pk=f.pk, reviewed_at__isnull=True)
            .update(reviewed_at=now, reviewed_by=person)
        )
        if updated:
            audit.record(
                person,
                "failure.reviewed",
                service_user=su_id,
                target=f"{'consumer' if kind == 'entry' else 'worker'}_failure:{f.pk}",
                now=now,
            )
