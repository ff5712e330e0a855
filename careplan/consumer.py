"""The visit record's log consumer: follows the visit bot's check-ins and check-outs and
the taps on the tasks card.

A ``rooms.logconsumer.LogConsumer`` (cursor ``careplan.checkout``, its name since the
first release; worker ``careplan`` in ``COCARE_WORKERS``). It reads, in the team room:

- the bot's ``system`` entry ``visit.checked_in`` (docs/log-contract.md): posts the
  visit's tasks as one card **as the provider's visit bot** (``careplan.botcard``; client
  id ``bot:<session>:tasks:0``, the key the bot runner used before, so a replay or the
  switch-over posts nothing twice) while the visit is still open, plans the prompts for
  doses falling due later in the visit (``careplan.prompts``), and stores the visit's
  minutes (``careplan.delivered``);
- the bot's ``visit.checked_out``: ``careplan.actions.do_check_out`` (the family-safe
  summary, a flag per time-critical dose left unrecorded; keyed by client id) and the
  visit's minutes, recomputed with its day;
- people's ``answer`` entries to a ``tasks:<visit>`` card: the tap ticks the task
  (``careplan.botcard.record_answer``, keyed ``ans:<answer entry>``).

Import direction (DESIGN.md §2, docs/decisions.md): ``careplan`` reads the bots' log
entries and ``bots`` models; ``bots`` imports nothing of ``careplan``
(tests/test_import_direction.py).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from bots.flows.common import Reply
from bots.models import Visit
from bots.runner import Poster
from careplan import botcard, delivered
from careplan.actions import do_check_out
from careplan.prompts import PromptTicker, plan_prompts
from rooms.logconsumer import LogConsumer
from rooms.models import Message, Role, Room

CHECKED_IN = "visit.checked_in"
CHECKED_OUT = "visit.checked_out"


def _visit_of(message: Message) -> Visit | None:
    session = (message.payload.get("data") or {}).get("session")
    if not isinstance(session, int) or isinstance(session, bool):
        return None
    return (
        Visit.objects.select_related("service_user__provider", "planned_visit")
        .filter(session__id=session, service_user_id=message.room.service_user_id)
        .first()
    )


def post_tasks_card(visit: Visit, now: dt.datetime) -> Message | None:
    """The visit's tasks card, posted once by the provider's visit bot (none when its
    visit type has no tasks, or the visit has ended)."""
    if visit.checked_out_at is not None:
        return None
    card = botcard.tasks_card(visit)
    if card is None:
        return None
    session_id = visit.session.pk
    posted = Poster(visit.service_user, now).post(
        f"bot:{session_id}:tasks", [Reply(room="professional", kind="card", payload=card)], []
    )
    return posted[0] if posted else None


class VisitRecordConsumer(LogConsumer):
    name = "careplan.checkout"

    def select(self, qs):
        bot_notice = Q(
            kind=Message.Kind.SYSTEM, sender__role=Role.BOT, room__kind=Room.Kind.PROFESSIONAL
        )
        tap = Q(kind=Message.Kind.ANSWER, payload__card_id__startswith=botcard.CARD_PREFIX)
        return qs.filter(bot_notice | tap)

    def handle(self, message: Message, now: dt.datetime) -> None:
        if message.kind == Message.Kind.ANSWER:
            if message.sender.role != Role.BOT:
                botcard.record_answer(message)
            return
        event = message.payload.get("event")
        if event not in (CHECKED_IN, CHECKED_OUT):
            return
        visit = _visit_of(message)
        if visit is None:
            return
        if event == CHECKED_IN:
            post_tasks_card(visit, now)
            plan_prompts(visit)
        elif visit.checked_out_at is not None:
            do_check_out(visit, now)
        delivered.recompute([visit], now)


def make_workers() -> list:
    """Registered as ``careplan`` in ``COCARE_WORKERS``."""
    return [VisitRecordConsumer(), PromptTicker()]
