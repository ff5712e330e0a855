"""Escalation's contribution to ``manage.py health`` (``COCARE_HEALTH_CHECKS["escalation"]``).

Stuck timers: open alerts whose ``next_step_at`` is more than the grace past (the ticker is
down or stuck — ``escalation_audit`` reports the same) and push notifications still
pending well after ``next_attempt_at``. Rows a worker skipped are reported once, as
skipped worker failures (``rooms.health``). Ids only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import QuerySet

from escalation.models import Alert, Notification
from escalation.push_sender import PushSender
from escalation.ticker import Ticker
from rooms.health import Finding, Thresholds, overdue
from rooms.isolation import label_of, skipped_ids


def overdue_steps(now: dt.datetime, grace: dt.timedelta) -> QuerySet:
    """Open alerts with a step due before ``now - grace`` (skipped alerts left out)."""
    return Alert.objects.filter(state=Alert.State.OPEN, next_step_at__lt=now - grace).exclude(
        pk__in=skipped_ids(Ticker.name, label_of(Alert))
    )


def stuck_pushes(now: dt.datetime, grace: dt.timedelta) -> QuerySet:
    return Notification.objects.filter(
        status=Notification.Status.PENDING,
        channel=Notification.Channel.PUSH,
        next_attempt_at__lt=now - grace,
    ).exclude(pk__in=skipped_ids(PushSender.name, label_of(Notification)))


def checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    yield from overdue(
        "escalation.ticker alert steps",
        "alert(s)",
        overdue_steps(now, thresholds.grace),
        thresholds.grace,
    )
    yield from overdue(
        "escalation.push notifications",
        "push(es)",
        stuck_pushes(now, thresholds.grace),
        thresholds.grace,
    )
