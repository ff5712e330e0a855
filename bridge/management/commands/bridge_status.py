"""``manage.py bridge_status``: backlog, age, failures and last success of the Matrix bridge.

Exit codes: 0 ok (or the bridge is off), 1 behind, 2 failing — so a monitor can run it
as a check (docs/matrix.md, "Watching the bridge"). Room ids only, never names or content.
"""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from bridge import conf
from bridge.status import Thresholds, assess
from bridge.status_query import gather
from cocare_chat import clock


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Command(BaseCommand):
    help = (
        "Show the Matrix bridge's per-room backlog, oldest pending age, failures and "
        "last success; exit 1 when behind, 2 when failing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument(
            "--behind-after",
            type=float,
            default=300.0,
            metavar="SECONDS",
            help="Behind when something has waited longer (default 300).",
        )
        parser.add_argument(
            "--failing-after",
            type=int,
            default=3,
            metavar="N",
            help="Failing when a room's head entry failed N passes in a row (default 3).",
        )
        parser.add_argument(
            "--window",
            type=float,
            default=24.0,
            metavar="HOURS",
            help="Entries given up on within this window count as failing (default 24).",
        )

    def handle(self, *args, **opts):
        if not (0 < opts["behind_after"] < 10**7) or not (0 < opts["window"] < 10**5):
            raise CommandError("--behind-after and --window must be positive numbers.")
        if opts["failing_after"] < 1:
            raise CommandError("--failing-after must be at least 1.")
        try:
            configured = conf.load() is not None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        th = Thresholds(
            behind_after=dt.timedelta(seconds=opts["behind_after"]),
            failing_after=opts["failing_after"],
            window=dt.timedelta(hours=opts["window"]),
        )
        now = clock.now()
        status = assess(gather(now, configured=configured, window=th.window), now, th)
        if opts["json"]:
            self.stdout.write(json.dumps(status.model_dump(mode="json"), indent=2))
        else:
            self._table(status)
        if status.exit_code:
            raise SystemExit(status.exit_code)

    def _table(self, status) -> None:
        w = self.stdout.write
        checked = f"{status.checked_at:%Y-%m-%d %H:%M:%S %Z}"
        w(f"Matrix bridge: {status.verdict.upper()}  (checked {checked})")
        for reason in status.reasons:
            w(f"  - {reason}")
        last = status.last_success.strftime("%Y-%m-%d %H:%M:%S") if status.last_success else "never"
        w(
            f"pending {status.pending} · not yet queued {status.unqueued} "
            f"(oldest {_age(status.oldest_unqueued_age_s)}) · kicks/notices owed "
            f"{status.actions_pending} · inbound failures {status.inbound_failed_recent} · "
            f"last success {last}"
        )
        if not status.rooms:
            w("no bridged rooms yet")
            return
        w(
            f"{'room':>8} {'state':<8} {'pending':>7} {'oldest':>8} {'fails':>5} "
            f"{'gave up':>7}  last success         error"
        )
        for r in status.rooms:
            ok = r.last_success.strftime("%Y-%m-%d %H:%M:%S") if r.last_success else "never"
            w(
                f"{r.room_id:>8} {r.state.value:<8} {r.pending:>7} "
                f"{_age(r.oldest_pending_age_s):>8} {r.head_failures:>5} {r.failed:>7}  "
                f"{ok:<20} {r.last_error}"
            )
