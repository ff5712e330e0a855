"""The visit record's log consumer: acts when the visit bot records a check-out.

A ``rooms.logconsumer.LogConsumer`` named ``careplan.checkout`` (worker ``careplan`` in
``COCARE_WORKERS``). It reads the bots' ``system`` entries with event
``visit.checked_out`` (docs/log-contract.md) in the professional room and runs
``careplan.actions.do_check_out`` for that visit: the family-safe summary in the family
room and a flag for each time-critical dose left unrecorded. Both are keyed by client
id, so a cursor reset or a restart repeats nothing. ``careplan`` reads the bots' log
entries and ``bots.models``; ``bots`` imports nothing of ``careplan``.
"""

from __future__ import annotations

import datetime as dt

from bots.models import Visit
from careplan.actions import do_check_out
from rooms.logconsumer import LogConsumer
from rooms.models import Message, Role, Room

CHECKED_OUT = "visit.checked_out"


class CheckoutConsumer(LogConsumer):
    name = "careplan.checkout"

    def select(self, qs):
        return qs.filter(
            kind=Message.Kind.SYSTEM, sender__role=Role.BOT, room__kind=Room.Kind.PROFESSIONAL
        )

    def handle(self, message: Message, now: dt.datetime) -> None:
        if message.payload.get("event") != CHECKED_OUT:
            return
        session = (message.payload.get("data") or {}).get("session")
        if not isinstance(session, int) or isinstance(session, bool):
            return
        visit = (
            Visit.objects.select_related("service_user", "planned_visit")
            .filter(session__id=session, service_user_id=message.room.service_user_id)
            .first()
        )
        if visit is None or visit.checked_out_at is None:
            return
        do_check_out(visit, now)


def make_workers() -> list:
    """Registered as ``careplan`` in ``COCARE_WORKERS``."""
    return [CheckoutConsumer()]
