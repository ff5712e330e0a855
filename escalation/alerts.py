"""Flags become alerts; the alert lifecycle (open → acknowledged → resolved → reopened).

``do_*`` functions mutate and assume the caller was authorised (``escalation.access``);
each runs in one transaction and writes a timeline event, an audit event and a team-room
notice per transition (``escalation.timeline``).

Guarantees:
- :func:`do_flag` is idempotent on the flag keys (``(message, rule)`` for rules and bots,
  ``(message, raised_by)`` for explicit concerns): a replay returns the stored flag and
  changes nothing;
- one unresolved alert per (service user, concern): a new flag attaches to it (raising its
  severity if worse); the constraint settles a race between two openers;
- the provider's policy is snapshotted into the alert on open and on reopen; due steps
  run at once in the same transaction (``escalation.steps``), later ones by the ticker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_noop

from escalation import timeline
from escalation.directory import policy_for
from escalation.models import Alert, Flag
from escalation.schemas import SEVERITY_RANK, worse
from escalation.steps import run_due_steps
from rooms.errors import Conflict, Invalid
from rooms.models import Message, Person, Room, ServiceUser

LABELS = {
    "falls": gettext_noop("fall"),
    "eating_drinking": gettext_noop("not eating or drinking"),
    "confusion": gettext_noop("confusion"),
    "breathing": gettext_noop("breathing"),
    "chest_pain": gettext_noop("chest pain"),
    "injury": gettext_noop("injury or bruising"),
    "medication": gettext_noop("medication refused or missed"),
    "safeguarding": gettext_noop("safeguarding"),
    "wellbeing_change": gettext_noop("wellbeing change"),
    "location_exception": gettext_noop("visit location"),
    "missed_visit": gettext_noop("missed visit"),
    "late_visit": gettext_noop("late visit"),
    "care_task": gettext_noop("essential care task not done"),
    "other": gettext_noop("concern"),
    "pendant_pressed": gettext_noop("pendant pressed"),
    "door_at_night": gettext_noop("door opened at night"),
    "no_movement": gettext_noop("no movement"),
}


@dataclass(frozen=True)
class Flagged:
    flag: Flag
    created: bool
    alert_opened: bool


def _lock(alert: Alert) -> Alert:
    # FOR NO KEY UPDATE of the alert row alone (docs/log-contract.md, lock order): a plain
    # FOR UPDATE with select_related would also lock the service user's row, and every
    # flag or alert inserted for that person checks its foreign key against it at commit.
    return (
        Alert.objects.select_for_update(no_key=True, of=("self",))
        .select_related("service_user")
        .get(pk=alert.pk)
    )


def lock_open_alerts(su: ServiceUser, concerns: list[str]) -> None:
    """Lock the person's unresolved alerts of ``concerns`` in id order, before any write.

    For one entry that flags several concerns: the first may open an alert and write a
    notice into the team room (its row lock), and a later one would then lock an alert
    after the room — the reverse of every other path (alert, then room).
    """
    list(
        Alert.objects.select_for_update(no_key=True, of=("self",))
        .filter(service_user=su, concern__in=concerns)
        .exclude(state=Alert.State.RESOLVED)
        .order_by("id")
        .values_list("id", flat=True)
    )


def _open_alert(su: ServiceUser, concern: str, severity: str, now: dt.datetime) -> Alert | None:
    """Create the alert, or None when another transaction opened one first."""
    policy = policy_for(su.provider_id)
    try:
        with transaction.atomic():
            return Alert.objects.create(
                service_user=su,
                concern=concern,
                severity=severity,
                opened_at=now,
                policy=policy.model_dump(mode="json"),
                next_step_at=now,
            )
    except IntegrityError:
        return None


def do_flag(
    *,
    message: Message,
    rule: str,
    concern: str,
    severity: str,
    source: str,
    now: dt.datetime,
    reason: str = "",
    subject: Message | None = None,
    raised_by: Person | None = None,
) -> Flagged:
    if concern not in LABELS:
        raise Invalid(f"Unknown concern {concern!r}.")
    if severity not in SEVERITY_RANK:
        raise Invalid(f"Unknown severity {severity!r}.")
    su = message.room.service_user
    with transaction.atomic():
        key = (
            {"message": message, "raised_by": raised_by}
            if raised_by
            else {"message": message, "rule": rule, "raised_by__isnull": True}
        )
        existing = Flag.objects.filter(**key).first()
        if existing is not None:
            return Flagged(existing, created=False, alert_opened=False)
        opened = False
        alert = None
        for _ in range(3):
            alert = (
                Alert.objects.select_for_update(no_key=True, of=("self",))
                .select_related("service_user")
                .filter(service_user=su, concern=concern)
                .exclude(state=Alert.State.RESOLVED)
                .first()
            )
            if alert is not None:
                break
            alert = _open_alert(su, concern, severity, now)
            if alert is not None:
                opened = True
                break
        if alert is None:
            raise Conflict("Could not open or find the alert; retry.")
        flag = Flag.objects.create(
            service_user=su,
            message=message,
            subject=subject or message,
            rule=rule[:120],
            concern=concern,
            severity=severity,
            source=source[:40],
            reason=reason[:500],
            raised_by=raised_by,
            alert=alert,
            created_at=now,
        )
        label = LABELS[concern]
        if opened:
            timeline.transition(
                alert,
                "opened",
                raised_by,
                now,
                data={"flag": flag.id, "source": flag.source},
                notice=f"Alert #{alert.id} opened: {label} ({severity}).",
            )
        else:
            timeline.event(
                alert,
                "flag_attached",
                raised_by,
                now,
                data={"flag": flag.id, "source": flag.source},
            )
            new = worse(alert.severity, severity)
            if new != alert.severity:
                old = alert.severity
                alert.severity = new
                alert.save(update_fields=["severity"])
                timeline.transition(
                    alert,
                    "severity_raised",
                    raised_by,
                    now,
                    data={"from": old, "to": new},
                    notice=f"Alert #{alert.id} raised to {new}.",
                )
        run_due_steps(alert, now)
    return Flagged(flag, created=True, alert_opened=opened)


def do_acknowledge(
    alert: Alert, by: Person, now: dt.datetime, *, source_message: Message | None = None
) -> bool:
    """Acknowledge an open alert: escalation stops. False (no change) if not open."""
    with transaction.atomic():
        alert = _lock(alert)
        if alert.state != Alert.State.OPEN:
            return False
        alert.state = Alert.State.ACKNOWLEDGED
        alert.acknowledged_at = now
        alert.acknowledged_by = by
        alert.next_step_at = None
        alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "next_step_at"])
        timeline.transition(
            alert,
            "acknowledged",
            by,
            now,
            source_message=source_message,
            notice=f"Alert #{alert.id} acknowledged by {by.display_name}.",
        )
    return True


RAISER_OUTCOME_MAX = 1000


def do_resolve(
    alert: Alert, by: Person, outcome: str, now: dt.datetime, *, raiser_outcome: str = ""
) -> Alert:
    """Resolve with the staff ``outcome`` and, optionally, the family-safe words shown to
    whoever raised a concern on it (``raiser_outcome``; see ``escalation.concerns``)."""
    outcome = (outcome or "").strip()
    raiser_outcome = (raiser_outcome or "").strip()
    if not outcome:
        raise Invalid("Write the outcome before resolving.")
    if len(raiser_outcome) > RAISER_OUTCOME_MAX:
        raise Invalid(f"Keep what the family is told under {RAISER_OUTCOME_MAX} characters.")
    with transaction.atomic():
        alert = _lock(alert)
        if alert.state == Alert.State.RESOLVED:
            raise Conflict("The alert is already resolved.")
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
            alert.acknowledged_by = by
        alert.state = Alert.State.RESOLVED
        alert.resolved_at = now
        alert.resolved_by = by
        alert.outcome = outcome
        alert.raiser_outcome = raiser_outcome
        alert.next_step_at = None
        alert.save()
        timeline.transition(
            alert,
            "resolved",
            by,
            now,
            note=outcome,
            notice=f"Alert #{alert.id} resolved by {by.display_name}.",
        )
    return alert


def do_reopen(alert: Alert, by: Person, reason: str, now: dt.datetime) -> Alert:
    """Reopen a resolved alert with a fresh policy snapshot; escalation starts again."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Say why the alert is reopened.")
    with transaction.atomic():
        alert = _lock(alert)
        if alert.state != Alert.State.RESOLVED:
            raise Conflict("Only a resolved alert can be reopened.")
        if (
            Alert.objects.filter(service_user_id=alert.service_user_id, concern=alert.concern)
            .exclude(state=Alert.State.RESOLVED)
            .exists()
        ):
            raise Conflict("Another alert for this concern is already open.")
        alert.state = Alert.State.OPEN
        alert.acknowledged_at = alert.acknowledged_by = None
        alert.resolved_at = alert.resolved_by = None
        alert.policy = policy_for(alert.service_user.provider_id).model_dump(mode="json")
        alert.step_index = 0
        alert.repeats = {}
        alert.next_step_at = now
        alert.reopened_count += 1
        alert.save()
        timeline.transition(
            alert,
            "reopened",
            by,
            now,
            note=reason,
            notice=f"Alert #{alert.id} reopened by {by.display_name}.",
        )
        run_due_steps(alert, now)
    return alert


def do_tell_family(alert: Alert, by: Person, text: str, now: dt.datetime) -> Message:
    """A manager's explicit choice: post their own words in the family room."""
    text = (text or "").strip()
    if not text:
        raise Invalid("Write what the family should be told.")
    with transaction.atomic():
        alert = _lock(alert)
        ev = timeline.transition(
            alert,
            "family_told",
            by,
            now,
            notice=f"Alert #{alert.id}: {by.display_name} updated the family.",
        )
        family = Room.objects.get(service_user_id=alert.service_user_id, kind=Room.Kind.FAMILY)
        return timeline.post_notice(
            family,
            text,
            "alert.family_update",
            f"esc:{alert.id}:{ev.id}:family",
            now,
            alert=alert.id,
        )
