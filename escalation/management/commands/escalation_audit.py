"""Report open alerts whose step is overdue; exit status 1 when there are any."""

from __future__ import annotations

import datetime as dt
import json
import sys

from django.core.management.base import BaseCommand

from cocare_chat import clock
from escalation.auditor import overdue_alerts, stuck_pushes


class Command(BaseCommand):
    help = "List open alerts whose next escalation step is overdue (ids only)."

    def add_arguments(self, parser):
        parser.add_argument("--grace-minutes", type=float, default=2.0)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, grace_minutes, as_json=False, **opts):
        now = clock.now()
        grace = dt.timedelta(minutes=grace_minutes)
        rows = overdue_alerts(now, grace)
        pushes = stuck_pushes(now, grace)
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "overdue": [
                            {
                                "alert": r.alert,
                                "service_user": r.service_user,
                                "step_index": r.step_index,
                                "due_at": r.due_at.isoformat(),
                                "late_seconds": int(r.late_by.total_seconds()),
                            }
                            for r in rows
                        ],
                        "stuck_pushes": pushes,
                    }
                )
            )
        else:
            for r in rows:
                self.stdout.write(
                    f"alert {r.alert} step {r.step_index} overdue by "
                    f"{int(r.late_by.total_seconds())}s"
                )
            self.stdout.write(f"{len(rows)} overdue alert(s), {pushes} stuck push(es)")
        if rows:
            sys.exit(1)
