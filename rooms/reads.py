"""Read positions (receipts). Monotonic: a position never moves backwards."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from cocare_chat import clock
from rooms import publish
from rooms.access import Action, access_room
from rooms.errors import Invalid
from rooms.models import Person, ReadPosition


def check_mark_read(person: Person, room_id: int, seq: int, now: dt.datetime | None = None) -> int:
    """Record that ``person`` has read ``room`` up to ``seq``; returns the stored position.

    Idempotent: an older or equal seq leaves the position unchanged and publishes nothing.
    """
    room, _ = access_room(person, room_id, Action.READ)
    if seq > room.last_seq:
        raise Invalid(f"seq {seq} is beyond the end of the room ({room.last_seq}).")
    now = now or clock.now()
    with transaction.atomic():
        pos, _ = ReadPosition.objects.get_or_create(
            room=room, person=person, defaults={"seq": 0, "updated_at": now}
        )
        pos = ReadPosition.objects.select_for_update().get(pk=pos.pk)
        if seq <= pos.seq:
            return pos.seq
        pos.seq = seq
        pos.updated_at = now
        pos.save(update_fields=["seq", "updated_at"])
        publish.send_on_commit(
            publish.room_group(room.id),
            {"type": "room.read", "room": room.id, "person": person.id, "seq": seq},
        )
    return seq
