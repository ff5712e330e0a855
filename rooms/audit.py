"""Append-only audit of reads and changes: who, what, when — never the content."""

from __future__ import annotations

import datetime as dt

from cocare_chat import clock
from rooms.models import AuditEvent, Person, Room, ServiceUser


def record(
    actor: Person | None,
    action: str,
    *,
    service_user: ServiceUser | int | None = None,
    room: Room | None = None,
    target: str = "",
    now: dt.datetime | None = None,
) -> AuditEvent:
    su_id = service_user.pk if isinstance(service_user, ServiceUser) else service_user
    if su_id is None and room is not None:
        su_id = room.service_user_id
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        service_user_id=su_id,
        room=room,
        target=target,
        at=now or clock.now(),
    )


def record_rooms(
    actor: Person | None, action: str, rooms: list[Room], *, now: dt.datetime | None = None
) -> None:
    """One event per room in a single insert (a home page previews many rooms at once)."""
    at = now or clock.now()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(actor=actor, action=action, service_user_id=r.service_user_id, room=r, at=at)
            for r in rooms
        ]
    )
