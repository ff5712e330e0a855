"""The visit's tasks as one bot card, and a tap on it as a task record.

Used by the visit record's log consumer (``careplan.consumer``), which follows the visit
bot's check-in entries and the taps on the card; ``bots`` imports nothing of ``careplan``
(DESIGN.md §2, docs/decisions.md):

- :func:`tasks_card` — after check-in, the payload of one ``card`` entry listing the
  visit's tasks (at most ten: one screen), essential ones marked; ``card_id`` is
  ``tasks:<visit>``. The card carries task labels only — never medicines (cards are
  bridged to Matrix).
- :func:`record_answer` — an ``answer`` to that card with value *i* ticks task *i* done,
  through ``careplan.actions.check_record_task`` (so only the visit's own care worker,
  during the visit), keyed ``ans:<answer entry>``: a replayed log records nothing twice.
  "Not done" needs a reason from the short list, which an answer cannot carry: it is
  recorded through ``POST /api/careplan/visits/<id>/tasks`` (the card's ``data.record``).
"""

from __future__ import annotations

from typing import Any

from bots.models import Visit
from careplan import actions
from careplan.rules import NOT_DONE_REASONS, TaskOutcome
from careplan.store import VisitPlan
from rooms.errors import CoCareError
from rooms.models import Message

CARD_PREFIX = "tasks:"


def tasks_card(visit: Visit) -> dict[str, Any] | None:
    """The card payload for the visit's tasks, or None when its visit type has none."""
    plan = VisitPlan(visit)
    if not plan.tasks:
        return None
    n = len(plan.tasks)
    return {
        "card_id": f"{CARD_PREFIX}{visit.pk}",
        "card_type": "visit_tasks",
        "title": f"{plan.title} visit: {n} task{'s' if n > 1 else ''} — tap each one when done",
        "options": [
            {"value": i, "label": (("★ " if t.essential else "") + t.label)[:80]}
            for i, t in enumerate(plan.tasks)
        ],
        "data": {
            "visit": visit.pk,
            "tasks": [
                {"id": t.pk, "value": i, "key": t.key, "essential": t.essential}
                for i, t in enumerate(plan.tasks)
            ],
            "not_done_reasons": NOT_DONE_REASONS,
            "record": f"/api/careplan/visits/{visit.pk}/tasks",
        },
    }


def is_tasks_card(card_id: object) -> bool:
    return isinstance(card_id, str) and card_id.startswith(CARD_PREFIX)


def record_answer(message: Message) -> bool:
    """Tick the task an answer names, as of the answer's time; False (nothing written)
    when it is not allowed — someone other than the visit's worker, after the visit, an
    unknown value."""
    card_id = message.payload.get("card_id")
    value = message.payload.get("value")
    try:
        visit_id = int(str(card_id)[len(CARD_PREFIX) :])
    except ValueError:
        return False
    card = Message.objects.filter(
        room_id=message.room_id, kind=Message.Kind.CARD, id__lt=message.id, payload__card_id=card_id
    ).first()
    if card is None or not isinstance(value, int):
        return False
    task = next(
        (t for t in card.payload.get("data", {}).get("tasks", []) if t.get("value") == value), None
    )
    if task is None:
        return False
    try:
        actions.check_record_task(
            message.sender,
            visit_id,
            task["id"],
            TaskOutcome(done=True),
            client_id=f"ans:{message.id}",
            now=message.created_at,
        )
    except CoCareError:
        return False
    return True
