"""CoCare -> Matrix, part 1: the outbox consumer over the log (DESIGN.md §3.4, §7).

A ``LogConsumer``: each bridged entry becomes an ``OutboxEntry`` in the same transaction
that advances the cursor. No network here — ``bridge.sender`` drains the outbox.
Idempotent on the message (one-to-one) and on the deterministic ``txn_id``; entries that
came *from* Matrix (an ``EventLink`` exists) are not sent back (echo suppression).

It also turns the log's ``member.joined`` / ``member.left`` notices into membership marks
for ``bridge.reconcile`` (in the same transaction): a person added to a room again is
invited again in Matrix even if she had left the Matrix room before.
"""

from __future__ import annotations

import datetime as dt

from bridge.models import EventLink, OutboxEntry
from bridge.reconcile import forget_leaves, mark_rooms
from rooms.logconsumer import LogConsumer
from rooms.models import Message, Person

BRIDGED_KINDS = ("text", "note", "system", "card", "answer", "edit", "redaction", "attachment")
MEMBER_EVENTS = ("member.joined", "member.left")


def txn_id_for(message_id: int) -> str:
    return f"cocare-{message_id}"


class OutboxConsumer(LogConsumer):
    name = "bridge.outbox"

    def select(self, qs):
        return qs.filter(kind__in=BRIDGED_KINDS)

    def handle(self, message: Message, now: dt.datetime) -> None:
        if message.kind == Message.Kind.SYSTEM and message.payload.get("event") in MEMBER_EVENTS:
            self._membership_changed(message)
        if EventLink.objects.filter(message=message).exists():
            return
        OutboxEntry.objects.get_or_create(
            message=message,
            defaults={
                "room_id": message.room_id,
                "seq": message.seq,
                "txn_id": txn_id_for(message.id),
                "created_at": now,
            },
        )

    @staticmethod
    def _membership_changed(message: Message) -> None:
        person_id = (message.payload.get("data") or {}).get("person")
        if message.payload.get("event") == "member.joined" and isinstance(person_id, int):
            matrix_id = (
                Person.objects.filter(pk=person_id).values_list("matrix_id", flat=True).first()
            )
            if matrix_id:
                forget_leaves([message.room_id], matrix_id)
        mark_rooms([message.room_id])
