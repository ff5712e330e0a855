"""What the home page shows per room: unread count, last-message preview, receipts.

Read-only, computed from the record (``ReadPosition`` and the log), so a read on another
device is reflected on the next load. Never beyond the member's ``visible_from_seq``.
Callers audit the read (a preview shows content).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rooms.access import visible_rooms
from rooms.models import Membership, Message, Person, ReadPosition, Role, Room

# What counts as something new to read, and what a preview may show.
UNREAD_KINDS = (Message.Kind.TEXT, Message.Kind.NOTE, Message.Kind.SYSTEM, Message.Kind.CARD)
PREVIEW_KINDS = (Message.Kind.TEXT, Message.Kind.NOTE, Message.Kind.SYSTEM)
PREVIEW_CHARS = 90


@dataclass(frozen=True)
class RoomSummary:
    room: Room
    unread: int
    read_seq: int
    preview: str
    preview_sender: str
    preview_mine: bool
    preview_at: dt.datetime | None


def _preview_text(m: Message) -> str:
    text = " ".join(m.current_body.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def room_summaries(person: Person) -> dict[int, RoomSummary]:
    """Every room the person may read, by id (three queries plus one per room)."""
    rooms = list(visible_rooms(person))
    if not rooms:
        return {}
    ids = [r.id for r in rooms]
    visible_from = dict(
        Membership.objects.filter(
            person=person, room_id__in=ids, removed_at__isnull=True
        ).values_list("room_id", "visible_from_seq")
    )
    reads = dict(
        ReadPosition.objects.filter(person=person, room_id__in=ids).values_list("room_id", "seq")
    )
    out: dict[int, RoomSummary] = {}
    for r in rooms:
        start = max(visible_from.get(r.id, 0), reads.get(r.id, 0))
        unread = (
            Message.objects.filter(
                room=r, seq__gt=start, kind__in=UNREAD_KINDS, redacted_at__isnull=True
            )
            .exclude(sender=person)
            .count()
        )
        last = (
            Message.objects.filter(
                room=r,
                seq__gt=visible_from.get(r.id, 0),
                kind__in=PREVIEW_KINDS,
                redacted_at__isnull=True,
            )
            .select_related("sender")
            .order_by("-seq")
            .first()
        )
        out[r.id] = RoomSummary(
            room=r,
            unread=unread,
            read_seq=reads.get(r.id, 0),
            preview=_preview_text(last) if last else "",
            preview_sender=(
                ""
                if last is None or last.kind == Message.Kind.SYSTEM
                else ("You" if last.sender_id == person.id else last.sender.display_name)
            ),
            preview_mine=last is not None and last.sender_id == person.id,
            preview_at=last.created_at if last else None,
        )
    return out


def summary_wire(s: RoomSummary) -> dict:
    return {
        "room": s.room.id,
        "kind": s.room.kind,
        "service_user": s.room.service_user_id,
        "name": s.room.service_user.name,
        "head_seq": s.room.last_seq,
        "read_seq": s.read_seq,
        "unread": s.unread,
        "preview": s.preview,
        "preview_sender": s.preview_sender,
        "preview_at": s.preview_at.isoformat() if s.preview_at else None,
    }


def receipts(room: Room) -> list[dict]:
    """Who in the room counts for ticks: active human members, each with the seq their
    history starts after (``visible_from``) and how far they have read. A member whose
    ``visible_from`` is at or after a message's seq never saw it and does not count.
    ``delivered_seq`` is how far their phone has received the room (never below ``read_seq``)."""
    members = (
        Membership.objects.filter(room=room, removed_at__isnull=True)
        .exclude(person__role=Role.BOT)
        .select_related("person")
    )
    positions = {
        p: (seq, delivered)
        for p, seq, delivered in ReadPosition.objects.filter(room=room).values_list(
            "person_id", "seq", "delivered_seq"
        )
    }
    return [
        {
            "person": m.person_id,
            "name": m.person.display_name,
            "visible_from": m.visible_from_seq,
            "read_seq": positions.get(m.person_id, (0, 0))[0],
            "delivered_seq": positions.get(m.person_id, (0, 0))[1],
        }
        for m in members
    ]
