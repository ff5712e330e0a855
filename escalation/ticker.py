"""The ticker: claims alerts whose ``next_step_at`` is due and runs their steps.

Timers are columns (DESIGN.md §3.5): nothing is scheduled in memory, so a ticker can be
killed at any point and a new one carries on from the rows. Claiming uses
``select_for_update(skip_locked=True)`` (PostgreSQL: concurrent tickers take different
alerts); on SQLite, where that is a no-op, writers are serialised and the
compare-and-set on ``Alert.step_seq`` plus the unique ``(alert, seq)`` step row make a
double run impossible.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

from django.db import transaction

from escalation.models import Alert
from escalation.steps import run_due_steps
from rooms.isolation import RowGuard


class Ticker:
    name = "escalation.ticker"
    batch_size = 50

    def run_once(self, now: dt.datetime) -> int:
        """Run due steps of up to ``batch_size`` alerts; returns the number of steps run.

        Each alert runs in isolation (``rooms.isolation.RowGuard``): an alert whose steps
        raise (a snapshot that no longer parses, a directory look-up failing) is recorded,
        retried on the next ticks, then skipped — the alerts behind it keep escalating.
        """
        guard = RowGuard(self.name, Alert)
        due_qs = Alert.objects.filter(state=Alert.State.OPEN, next_step_at__lte=now)
        due = list(
            guard.due(due_qs)
            .order_by("next_step_at", "id")
            .values_list("id", "service_user_id")[: self.batch_size]
        )
        ran = 0
        for alert_id, su_id in due:
            ran += (
                guard.run(alert_id, partial(self._step, alert_id, now), now, service_user_id=su_id)
                or 0
            )
        guard.settle(due_qs, now)
        return ran

    @staticmethod
    def _step(alert_id: int, now: dt.datetime) -> int:
        with transaction.atomic():
            alert = (
                Alert.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("service_user")
                .filter(pk=alert_id, state=Alert.State.OPEN, next_step_at__lte=now)
                .first()
            )
            return run_due_steps(alert, now) if alert is not None else 0
