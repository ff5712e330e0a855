"""The dashboards' contribution to ``manage.py health`` (``COCARE_HEALTH_CHECKS``).

The rollup's timer is ``RollupMark.refreshed_at``: older than ``REFRESH_EVERY`` plus the
grace means the ``dashboards`` worker is not running or its refresh keeps failing (the
failure itself is recorded by ``rooms.isolation``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from rooms.health import Finding, Thresholds
from web.dashboards.models import RollupMark
from web.dashboards.queries import ROLLUP
from web.dashboards.rollup import REFRESH_EVERY


def checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    refreshed = (
        RollupMark.objects.filter(name=ROLLUP).values_list("refreshed_at", flat=True).first()
    )
    if refreshed is None:
        yield Finding("timer.overdue", "dashboards.rollup", "never refreshed")
    elif refreshed < now - REFRESH_EVERY - thresholds.grace:
        yield Finding(
            "timer.overdue",
            "dashboards.rollup",
            f"last refreshed {int((now - refreshed).total_seconds() // 60)} min ago",
            since=refreshed,
        )
