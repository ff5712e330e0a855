"""Run an alert's due steps from its policy snapshot — exactly once each.

:func:`run_due_steps` loops the pure :func:`escalation.policy.next_action` and stores each
plan: a ``StepRun`` row unique on ``(alert, seq)`` and a compare-and-set on
``Alert.step_seq`` in the same transaction, so two tickers (or a ticker and the detector)
can never both run a step. Callers hold the alert row (``select_for_update`` where the
database has it); the compare-and-set is the fallback on SQLite.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from escalation import timeline
from escalation.directory import directory_for
from escalation.models import Alert, StepRun
from escalation.notify import notify
from escalation.policy import MAX_PLANS_PER_RUN, AlertState, Plan, next_action, parse_policy

AUDIENCE_TEXT = {
    "managers": "care managers notified",
    "on_call": "on-call care manager notified (quiet hours)",
    "deputies": "deputies notified",
    "council": "council duty contact notified",
}


class StepRace(Exception):
    """Another worker advanced the alert first; this transaction is rolled back."""


def state_of(alert: Alert) -> AlertState:
    return AlertState(
        state=alert.state,
        severity=alert.severity,
        step_index=alert.step_index,
        next_step_at=alert.next_step_at,
        repeats=alert.repeats or {},
        council_notified=alert.council_notified_at is not None,
    )


def _store(alert: Alert, plan: Plan, now: dt.datetime) -> None:
    seq = alert.step_seq + 1
    StepRun.objects.create(
        alert=alert,
        seq=seq,
        index=plan.index,
        step_type=plan.step_type,
        due_at=plan.due_at,
        ran_at=now,
        audience=plan.audience,
        recipients=plan.recipients,
        note=plan.note[:200],
    )
    council_at = alert.council_notified_at
    if plan.audience == "council" and council_at is None:
        council_at = now
    updated = Alert.objects.filter(pk=alert.pk, step_seq=alert.step_seq).update(
        step_seq=seq,
        step_index=plan.next_index,
        next_step_at=plan.next_step_at,
        repeats=plan.repeats,
        council_notified_at=council_at,
    )
    if updated != 1:
        raise StepRace()
    alert.step_seq = seq
    alert.step_index = plan.next_index
    alert.next_step_at = plan.next_step_at
    alert.repeats = plan.repeats
    alert.council_notified_at = council_at
    notify(alert, seq, plan.recipients, now)
    data = {
        "seq": seq,
        "index": plan.index,
        "step": plan.step_type,
        "audience": plan.audience,
        "recipients": plan.recipients,
        "due_at": plan.due_at.isoformat(),
    }
    if plan.note:
        data["note"] = plan.note
    text = AUDIENCE_TEXT.get(plan.audience)
    if text and plan.recipients:
        timeline.transition(
            alert,
            "step",
            None,
            now,
            data=data,
            notice=f"Alert #{alert.id}: {text} ({len(plan.recipients)}).",
        )
    elif text:
        timeline.transition(
            alert,
            "step",
            None,
            now,
            data=data,
            notice=f"Alert #{alert.id}: nobody to notify for this step "
            f"({plan.audience}) — check the rota.",
        )
    else:
        timeline.event(alert, "step", None, now, data=data)


def run_due_steps(alert: Alert, now: dt.datetime) -> int:
    """Execute every step of ``alert`` due at ``now``; returns how many ran.

    Must run inside a transaction that holds the alert row. Raises nothing on a lost race:
    the savepoint is rolled back and 0 is returned for that step.
    """
    policy = parse_policy(alert.policy)
    directory = directory_for(alert.service_user, now)
    ran = 0
    for _ in range(MAX_PLANS_PER_RUN):
        plan = next_action(state_of(alert), policy, now, directory)
        if plan is None:
            break
        try:
            with transaction.atomic():
                _store(alert, plan, now)
        except (StepRace, IntegrityError):
            alert.refresh_from_db()
            break
        ran += 1
    return ran
