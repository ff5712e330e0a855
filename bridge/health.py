"""The bridge's contribution to ``manage.py health`` (``COCARE_HEALTH_CHECKS["bridge"]``).

Stuck: outbox entries still pending more than the grace after they were queued (the
homeserver is down, the sender is not running, or a room is blocked), and Matrix-side
actions (kicks, notices) owed longer than that, and photos/files from Matrix not yet
fetched (``bridge.media``). Nothing is pending when the bridge is off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q

from bridge.models import BridgeAction, InboundMedia, OutboxEntry
from rooms.health import Finding, Thresholds, overdue


def checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    before = now - thresholds.grace
    yield from overdue(
        "bridge.sender outbox",
        "entr(y/ies) queued for Matrix",
        OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING, created_at__lt=before),
        thresholds.grace,
    )
    yield from overdue(
        "bridge.sender actions",
        "action(s)",
        BridgeAction.objects.filter(done_at__isnull=True, created_at__lt=before).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=before)
        ),
        thresholds.grace,
    )
    yield from overdue(
        "bridge.media inbound",
        "photo(s)/file(s) from Matrix not yet fetched",
        InboundMedia.objects.filter(status=InboundMedia.Status.PENDING, created_at__lt=before),
        thresholds.grace,
    )
