"""The facts ``bridge.status.assess`` decides on, read from the database (read-only).

A handful of aggregate queries, plus one per room that has a backlog (its head entry).
``rooms`` narrows everything to some CoCare rooms (a care manager's provider): the room
list, the log lag, the owed actions and the inbound failures are all counted over those
rooms only, so a scoped status says nothing about anyone else's rooms.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Max, Min, Q, QuerySet

from bridge import conf
from bridge.models import BridgeAction, BridgedRoom, InboundEvent, OutboxEntry
from bridge.outbound import BRIDGED_KINDS, OutboxConsumer
from bridge.status import BridgeFacts, BridgeStatus, RoomFacts, Thresholds, assess
from rooms import access
from rooms.errors import NotFound
from rooms.logorder import START, LogPos, after
from rooms.models import ConsumerCursor, Message, Person, Role, Room

Status = OutboxEntry.Status


def gather(
    now: dt.datetime, *, configured: bool, window: dt.timedelta, rooms: QuerySet[Room] | None = None
) -> BridgeFacts:
    since = now - window
    outbox = OutboxEntry.objects.all()
    bridged = BridgedRoom.objects.all()
    log = Message.objects.filter(kind__in=BRIDGED_KINDS)
    if rooms is not None:
        outbox = outbox.filter(room__in=rooms)
        bridged = bridged.filter(room__in=rooms)
        log = log.filter(room__in=rooms)
    pending = Q(status=Status.PENDING)
    failed = Q(status=Status.FAILED)
    per_room = {
        r["room_id"]: r
        for r in outbox.values("room_id").annotate(
            pending=Count("id", filter=pending),
            oldest=Min("message__created_at", filter=pending),
            failed=Count("id", filter=failed),
            failed_recent=Count("id", filter=failed & Q(message__created_at__gte=since)),
            last_sent=Max("sent_at"),
        )
    }
    room_ids = set(per_room) | set(bridged.values_list("room_id", flat=True))
    facts = []
    for room_id in sorted(room_ids):
        r = per_room.get(room_id, {})
        head = None
        if r.get("pending"):
            head = (
                OutboxEntry.objects.filter(room_id=room_id, status=Status.PENDING)
                .order_by("seq")
                .values("failures", "last_error")
                .first()
            )
        facts.append(
            RoomFacts(
                room_id=room_id,
                pending=r.get("pending", 0),
                oldest_pending_at=r.get("oldest"),
                head_failures=head["failures"] if head else 0,
                head_error=head["last_error"] if head else "",
                failed=r.get("failed", 0),
                failed_recent=r.get("failed_recent", 0),
                last_sent_at=r.get("last_sent"),
            )
        )
    row = (
        ConsumerCursor.objects.filter(name=OutboxConsumer.name)
        .values_list("txid", "position")
        .first()
    )
    position = LogPos(*row) if row else START
    lag = log.filter(after(position)).aggregate(n=Count("id"), oldest=Min("created_at"))
    matrix_rooms = bridged.values_list("matrix_room_id", flat=True)
    actions = BridgeAction.objects.filter(done_at__isnull=True)
    inbound = InboundEvent.objects.filter(
        outcome=InboundEvent.Outcome.FAILED, received_at__gte=since
    )
    if rooms is not None:
        actions = actions.filter(matrix_room_id__in=matrix_rooms)
        inbound = inbound.filter(matrix_room_id__in=matrix_rooms)
    owed = actions.aggregate(n=Count("id"), oldest=Min("created_at"))
    return BridgeFacts(
        configured=configured,
        rooms=facts,
        unqueued=lag["n"],
        oldest_unqueued_at=lag["oldest"],
        actions_pending=owed["n"],
        oldest_action_at=owed["oldest"],
        inbound_failed_recent=inbound.count(),
    )


def current_status(
    now: dt.datetime, th: Thresholds | None = None, *, rooms: QuerySet[Room] | None = None
) -> BridgeStatus:
    th = th or Thresholds()
    try:
        configured = conf.load() is not None
    except ValueError:  # half configured: the worker will not start, report what is there
        configured = True
    return assess(gather(now, configured=configured, window=th.window, rooms=rooms), now, th)


def managed_rooms(manager: Person | None) -> QuerySet[Room]:
    """The rooms a care manager sees the bridge status of: their provider's; NotFound for
    anyone else (the page and the API answer 404)."""
    if manager is None or manager.role != Role.CARE_MANAGER:
        raise NotFound("Not found.")
    return Room.objects.filter(service_user__in=access.managed_service_users(manager))
