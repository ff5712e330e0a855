"""Notification outbox rows and live in-app events.

In-app: one ``Notification`` row per (alert, step, recipient), marked sent, plus a
``person.event`` hint on commit (the inbox itself is read from the database, so a lost hint
costs nothing). Push: one pending row per active device, delivered by
``escalation.push_sender.PushSender``. Payloads carry ids only (DESIGN.md §3.9).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from escalation.models import Alert, Notification
from rooms.models import PushDevice
from rooms.publish import person_group, send_on_commit


def alert_event(alert: Alert) -> dict:
    """The live event for a person's sockets: ids, state and severity — no concern, no text."""
    return {"type": "alert", "alert": alert.id, "state": alert.state, "severity": alert.severity}


def live_on_commit(alert: Alert, people: Iterable[int]) -> None:
    payload = alert_event(alert)
    for pid in sorted(set(people)):
        send_on_commit(person_group(pid), {"type": "person.event", "payload": payload})


def notify(alert: Alert, step_seq: int, recipients: list[int], now: dt.datetime) -> int:
    """Create the outbox rows for one executed step. Idempotent on the unique keys."""
    if not recipients:
        return 0
    rows = [
        Notification(
            alert=alert,
            step_seq=step_seq,
            recipient_id=pid,
            channel=Notification.Channel.INAPP,
            status=Notification.Status.SENT,
            created_at=now,
            sent_at=now,
        )
        for pid in recipients
    ]
    devices = PushDevice.objects.filter(person_id__in=recipients, active=True).order_by("id")
    rows += [
        Notification(
            alert=alert,
            step_seq=step_seq,
            recipient_id=d.person_id,
            device=d,
            channel=Notification.Channel.PUSH,
            status=Notification.Status.PENDING,
            created_at=now,
            next_attempt_at=now,
        )
        for d in devices
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    live_on_commit(alert, recipients)
    return len(rows)


def alert_audience(alert: Alert) -> set[int]:
    """Everyone notified about the alert so far (their inboxes follow its state)."""
    return set(
        Notification.objects.filter(alert=alert, channel=Notification.Channel.INAPP).values_list(
            "recipient_id", flat=True
        )
    )
