"""The auditor: open alerts whose next step is overdue (the ticker is down or stuck)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from escalation.models import Alert, Notification

DEFAULT_GRACE = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class Overdue:
    alert: int
    service_user: int
    step_index: int
    due_at: dt.datetime
    late_by: dt.timedelta


def overdue_alerts(now: dt.datetime, grace: dt.timedelta = DEFAULT_GRACE) -> list[Overdue]:
    """Open alerts with a step due before ``now - grace``, oldest first. Ids only."""
    rows = Alert.objects.filter(state=Alert.State.OPEN, next_step_at__lt=now - grace).order_by(
        "next_step_at", "id"
    )
    return [
        Overdue(a.id, a.service_user_id, a.step_index, a.next_step_at, now - a.next_step_at)
        for a in rows
    ]


def stuck_pushes(now: dt.datetime, grace: dt.timedelta = DEFAULT_GRACE) -> int:
    """Push notifications still pending well after they were due."""
    return Notification.objects.filter(
        status=Notification.Status.PENDING, next_attempt_at__lt=now - grace
    ).count()
