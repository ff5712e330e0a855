"""Medicine prompts within a visit: a notice in the team room as scheduled doses fall due.

The tasks card lists the doses due at check-in; doses that fall due *later in the visit*
get a prompt at their time (docs/visit-record.md "Prompts as doses fall due"):

1. :func:`plan_prompts` — when the visit bot records the check-in (``careplan.consumer``),
   one ``DosePrompt`` row per scheduled time in ``(check-in, check-in + HORIZON]`` with the
   doses due then; ``get_or_create`` on the unique ``(visit, due_at)``: a replay makes
   nothing twice.
2. :class:`PromptTicker` (worker ``careplan``) — timers are columns (DESIGN.md §3.5):
   claims due ``pending`` rows one at a time with ``select_for_update(skip_locked=True)``
   and re-reads ``state`` (so each prompt is decided once, also with two tickers), then
   either posts the prompt as the provider's visit bot (client id
   ``cp:due:<prompt>:0`` — keyed, so a retried batch posts nothing twice) or marks it
   ``skipped``: the visit was checked out before the time, or every dose of it is already
   recorded (a prompt that raises is skipped too, logged by type and id). Rows survive a
   restart; an overdue row is decided on the next run.

The notice is generic — a time and a count, never a medicine name (notices reach the
Matrix bridge) — and its payload (``visit.dose_due``: visit id, time) tells the worker's
card to redraw its medicines, where the due doses are recorded.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction

from bots.flows.common import Reply
from bots.models import Visit
from bots.runner import Poster
from careplan.common import local_hhmm
from careplan.medicines import scheduled_between
from careplan.models import DosePrompt, MedicineRecord
from careplan.store import medicine_ref, medicines_active_between
from rooms.models import Message

log = logging.getLogger(__name__)

HORIZON = dt.timedelta(hours=3)  # the longest visit we prompt within
EVENT = "visit.dose_due"


def plan_prompts(visit: Visit) -> list[DosePrompt]:
    """The visit's prompts, made once (idempotent on ``(visit, due_at)``)."""
    start = visit.checked_in_at
    end = start + HORIZON
    meds = [
        medicine_ref(m)
        for m in medicines_active_between(visit.service_user, start, end)
        if not m.prn_max_doses_24h
    ]
    by_time: dict[dt.datetime, list[list]] = {}
    for m in meds:
        for d in scheduled_between(m, start, end):
            if d.scheduled_for > start:  # due at check-in: already on the card
                by_time.setdefault(d.scheduled_for, []).append(
                    [d.medicine_id, d.scheduled_for.isoformat()]
                )
    out = []
    for due_at, doses in sorted(by_time.items()):
        prompt, _ = DosePrompt.objects.get_or_create(
            visit=visit, due_at=due_at, defaults={"doses": sorted(doses)}
        )
        out.append(prompt)
    return out


def _unrecorded(prompt: DosePrompt) -> int:
    keys = {(int(m), dt.datetime.fromisoformat(t)) for m, t in prompt.doses}
    recorded = set(
        MedicineRecord.objects.filter(
            superseded_at__isnull=True,
            medicine_id__in=[m for m, _ in keys],
            scheduled_for__in=[t for _, t in keys],
        ).values_list("medicine_id", "scheduled_for")
    )
    return len(keys - recorded)


def notice_text(n: int, at: dt.datetime) -> str:
    what = "A medicine is" if n == 1 else f"{n} medicines are"
    it = "it" if n == 1 else "them"
    return f"{what} due now ({local_hhmm(at)}) — record {it} on the visit card."


def decide(prompt: DosePrompt, now: dt.datetime) -> DosePrompt:
    """Post or skip one claimed prompt (the caller holds its row lock)."""
    visit = Visit.objects.select_related("service_user__provider").get(pk=prompt.visit_id)
    ended = visit.checked_out_at is not None and visit.checked_out_at < prompt.due_at
    n = 0 if ended else _unrecorded(prompt)
    if n == 0:
        prompt.state = DosePrompt.State.SKIPPED
    else:
        posted: list[Message] = Poster(visit.service_user, now).post(
            f"cp:due:{prompt.pk}",
            [
                Reply(
                    room="professional",
                    kind="system",
                    body=notice_text(n, prompt.due_at),
                    payload={
                        "event": EVENT,
                        "data": {
                            "visit": visit.pk,
                            "time": local_hhmm(prompt.due_at),
                            "doses": n,
                        },
                    },
                )
            ],
            [],
        )
        prompt.message = posted[0] if posted else None
        prompt.state = DosePrompt.State.POSTED
    prompt.done_at = now
    prompt.save(update_fields=["state", "message", "done_at"])
    return prompt


class PromptTicker:
    """Worker ``careplan.prompts``: posts the dose prompts whose time has come."""

    name = "careplan.prompts"
    batch_size = 50

    def run_once(self, now: dt.datetime) -> int:
        ids = list(
            DosePrompt.objects.filter(state=DosePrompt.State.PENDING, due_at__lte=now)
            .order_by("due_at", "id")
            .values_list("id", flat=True)[: self.batch_size]
        )
        done = 0
        for prompt_id in ids:
            try:
                with transaction.atomic():
                    prompt = (
                        DosePrompt.objects.select_for_update(skip_locked=True)
                        .filter(pk=prompt_id, state=DosePrompt.State.PENDING, due_at__lte=now)
                        .first()
                    )
                    if prompt is None:
                        continue  # another ticker has it, or it was decided meanwhile
                    decide(prompt, now)
                    done += 1
            except Exception as exc:
                # A prompt is a convenience (check-out still flags unrecorded
                # time-critical doses): one that fails is skipped, never retried forever,
                # and never stops the others. Type and id only in the log.
                log.warning("dose prompt %s failed: %s", prompt_id, type(exc).__name__)
                DosePrompt.objects.filter(pk=prompt_id, state=DosePrompt.State.PENDING).update(
                    state=DosePrompt.State.SKIPPED, done_at=now
                )
        return done
