"""Report lagging consumers, skipped or failing entries and rows, and stuck timers.

Exit status: 0 when nothing is wrong, 1 when any finding is a problem (lagging, skipped and
not yet reviewed, failing, stuck, or a check that could not run). Ids, counts and ages
only. The checks are registered in ``settings.COCARE_HEALTH_CHECKS`` (rooms/health.py).
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from django.core.management.base import BaseCommand

from cocare_chat import clock
from rooms.health import Thresholds, run_checks


class Command(BaseCommand):
    help = (
        "Check the workers: consumer lag, skipped/failing entries and rows, stuck timers. "
        "Exits 1 when anything needs attention."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="Print one JSON document instead of the summary.",
        )
        parser.add_argument(
            "--grace-seconds",
            type=float,
            default=120.0,
            help="A timer this long past due is stuck (default 120).",
        )
        parser.add_argument(
            "--lag-seconds",
            type=float,
            default=60.0,
            help="A consumer whose oldest unread entry is older lags (default 60).",
        )

    def handle(self, *args, as_json=False, grace_seconds=120.0, lag_seconds=60.0, **opts):
        thresholds = Thresholds(
            grace=dt.timedelta(seconds=grace_seconds), lag=dt.timedelta(seconds=lag_seconds)
        )
        report = run_checks(clock.now(), thresholds)
        if as_json:
            self.stdout.write(json.dumps(report.as_json()))
        else:
            for f in report.findings:
                mark = "PROBLEM" if f.problem else "ok     "
                self.stdout.write(f"{mark} {f.check:<20} {f.subject}: {f.detail}")
            verdict = "healthy" if report.ok else f"{len(report.problems)} problem(s)"
            self.stdout.write(f"health: {verdict} ({', '.join(report.checks)})")
        if not report.ok:
            sys.exit(1)
