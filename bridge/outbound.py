"""CoCare -> Matrix, part 1: the outbox consumer over the log (DESIGN.md §3.4, §7).

A ``LogConsumer``: each bridged entry becomes an ``OutboxEntry`` in the same transaction
that advances the cursor. No network here — ``bridge.sender`` drains the outbox.
Idempotent on the message (one-to-one) and on the deterministic ``txn_id``; entries that
came *from* Matrix (an ``EventLink`` exists) are not sent back (echo suppression).
"""

from __future__ import annotations

import datetime as dt

from bridge.models import EventLink, OutboxEntry
from rooms.logconsumer import LogConsumer
from rooms.models import Message

BRIDGED_KINDS = ("text", "note", "system", "card", "answer", "edit", "redaction")


def txn_id_for(message_id: int) -> str:
    return f"cocare-{message_id}"


class OutboxConsumer(LogConsumer):
    name = "bridge.outbox"

    def select(self, qs):
        return qs.filter(kind__in=BRIDGED_KINDS)

    def handle(self, message: Message, now: dt.datetime) -> None:
        if EventLink.objects.filter(message=message).exists():
            return
        OutboxEntry.objects.get_or_create(
            message=message,
            defaults={"room_id": message.room_id, "seq": message.seq,
                      "txn_id": txn_id_for(message.id), "created_at": now},
        )
