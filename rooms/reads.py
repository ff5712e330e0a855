"""Read and delivered positions (receipts). Monotonic: a position never moves backwards.

``seq`` is how far a member has read a room; ``delivered_seq`` how far their phone has
received it (docs/phone-app.md "Ticks"). Reading implies receiving, so a read also moves
the delivered position up to it; ``delivered_seq >= seq`` always holds.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from cocare_chat import clock
from rooms import publish
from rooms.access import Action, access_room
from rooms.errors import Invalid
from rooms.models import Person, ReadPosition, Room


def _locked_position(room: Room, person: Person, now: dt.datetime) -> ReadPosition:
    pos, _ = ReadPosition.objects.get_or_create(
        room=room, person=person, defaults={"seq": 0, "delivered_seq": 0, "updated_at": now}
    )
    return ReadPosition.objects.select_for_update().get(pk=pos.pk)


def _authorised_room(person: Person, room_id: int, seq: int) -> Room:
    room, _ = access_room(person, room_id, Action.READ)
    if seq > room.last_seq:
        raise Invalid(f"seq {seq} is beyond the end of the room ({room.last_seq}).")
    return room


def check_mark_read(person: Person, room_id: int, seq: int, now: dt.datetime | None = None) -> int:
    """Record that ``person`` has read ``room`` up to ``seq``; returns the stored position.

    Idempotent: an older or equal seq leaves the position unchanged and publishes nothing.
    The delivered position is raised to ``seq`` in the same row write.
    """
    room = _authorised_room(person, room_id, seq)
    now = now or clock.now()
    with transaction.atomic():
        pos = _locked_position(room, person, now)
        if seq <= pos.seq:
            return pos.seq
        pos.seq = seq
        pos.delivered_seq = max(pos.delivered_seq, seq)
        pos.updated_at = now
        pos.save(update_fields=["seq", "delivered_seq", "updated_at"])
        publish.send_on_commit(
            publish.room_group(room.id),
            {"type": "room.read", "room": room.id, "person": person.id, "seq": seq},
        )
    return seq


def check_mark_delivered(
    person: Person, room_id: int, seq: int, now: dt.datetime | None = None
) -> int:
    """Record that ``person``'s phone has received ``room`` up to ``seq``; returns the
    stored delivered position.

    Same rules as a read: the person must be able to read the room (else NotFound, as for a
    room that does not exist), ``seq`` may not pass the room's end, and an older or equal
    seq changes nothing and publishes nothing. On a change, a ``room.delivered`` hint is
    published on commit so the senders' ticks move live.
    """
    room = _authorised_room(person, room_id, seq)
    now = now or clock.now()
    with transaction.atomic():
        pos = _locked_position(room, person, now)
        if seq <= pos.delivered_seq:
            return pos.delivered_seq
        pos.delivered_seq = seq
        pos.updated_at = now
        pos.save(update_fields=["delivered_seq", "updated_at"])
        publish.send_on_commit(
            publish.room_group(room.id),
            {"type": "room.delivered", "room": room.id, "person": person.id, "seq": seq},
        )
    return seq
