"""Push to people's phones for new messages in their rooms: a durable log consumer.

A ``rooms.logconsumer.LogConsumer`` named ``escalation.message_push``. For each new
``text``, ``note`` or ``card`` entry (and, in a family room, the visit notices "Anna
arrived 09:00"), one pending push ``Notification`` per active device of each member who
may read the room now (``rooms.access.allowed_pairs``), joined before the entry, is not
the sender or a bot, and has not muted message pushes or set quiet hours covering now
(``escalation.quiet``). The rows are written in the consumer's transaction with its
cursor and are unique on ``(message, recipient, device)``, so a replay is harmless; the
push sender delivers them with the same backoff as alert pushes.

The text is generic — "New message in Peggy's family room" — never the body, the sender
or anything said (escalation/push.py builds it from the room alone). Entries older than
``MAX_AGE`` when read (a long outage, a cursor reset) get no push: a phone buzzing for
yesterday's messages helps nobody.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from escalation.models import Notification, PushPreference
from escalation.quiet import wants_message_push
from rooms.access import allowed_pairs
from rooms.logconsumer import LogConsumer
from rooms.models import Membership, Message, PushDevice, Role, Room

MAX_AGE = dt.timedelta(minutes=30)
PUSHED_KINDS = (Message.Kind.TEXT, Message.Kind.NOTE, Message.Kind.CARD, Message.Kind.SYSTEM)
FAMILY_NOTICES = ("visit.arrived", "visit.left")
NO_PUSH_ROLES = (Role.BOT,)


def pushes_for(msg: Message) -> bool:
    """Whether this entry is worth a push at all (before asking who wants it)."""
    if msg.kind == Message.Kind.SYSTEM:
        event = (msg.payload or {}).get("event")
        return msg.room.kind == Room.Kind.FAMILY and event in FAMILY_NOTICES
    return msg.redacted_at is None


class MessagePush(LogConsumer):
    name = "escalation.message_push"

    def select(self, qs):
        return qs.filter(kind__in=PUSHED_KINDS)

    def handle(self, message: Message, now: dt.datetime) -> None:
        if now - message.created_at > MAX_AGE or not pushes_for(message):
            return
        candidates = set(
            Membership.objects.filter(
                room=message.room,
                removed_at__isnull=True,
                visible_from_seq__lte=message.seq,
            )
            .exclude(person_id=message.sender_id)
            .exclude(person__role__in=NO_PUSH_ROLES)
            .values_list("person_id", flat=True)
        )
        readers = {pid for pid, _ in allowed_pairs({(p, message.room_id) for p in candidates})}
        if not readers:
            return
        local = timezone.localtime(now).time()
        prefs = {p.person_id: p for p in PushPreference.objects.filter(person_id__in=readers)}
        wanted = {
            pid
            for pid in readers
            if pid not in prefs
            or wants_message_push(
                muted=prefs[pid].messages_muted,
                quiet_from=prefs[pid].quiet_from,
                quiet_until=prefs[pid].quiet_until,
                local=local,
            )
        }
        devices = PushDevice.objects.filter(person_id__in=wanted, active=True).order_by("id")
        Notification.objects.bulk_create(
            [
                Notification(
                    message=message,
                    recipient_id=d.person_id,
                    device=d,
                    channel=Notification.Channel.PUSH,
                    status=Notification.Status.PENDING,
                    created_at=now,
                    next_attempt_at=now,
                )
                for d in devices
            ],
            ignore_conflicts=True,
        )
