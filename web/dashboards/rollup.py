"""Daily rollups for the provider and council dashboards: derived, recomputable, keyed.

``refresh(first_day, last_day)`` deletes and rewrites the rows of those local days in one
transaction, computed by the same aggregate queries the dashboards run live (so a rollup
figure and a live figure cannot disagree). ``refresh_recent(now)`` keeps the last
``RECENT_DAYS`` complete days fresh (late acknowledgements, late check-outs, corrections)
and extends ``RollupMark.through_day`` to the day before yesterday; yesterday and today are
always read live. The first call (no mark) builds everything from the oldest data.
Concurrent refreshers serialise on the mark row (``select_for_update``); a refresher that
loses the race to create the first mark gives up until its next tick.

Corrections older than ``RECENT_DAYS`` (an import of old history) need
``manage.py refresh_dashboards --all``.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Min

from bots.models import Observation, PlannedVisit, Visit
from escalation.models import Alert
from rooms.bounds import EARLIEST, LATEST
from rooms.isolation import RowGuard
from web.dashboards.models import DayTotals, DomainDay, RollupMark
from web.dashboards.periods import LONDON, Window
from web.dashboards.queries import (
    ALERT_KEYS,
    DOMAINS,
    ROLLUP,
    VISIT_KEYS,
    Scope,
    live_alert_sums,
    live_domain_sums,
    live_visit_sums,
)

log = logging.getLogger(__name__)
RECENT_DAYS = 120
REFRESH_EVERY = dt.timedelta(minutes=15)


def _midnight(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(), LONDON)


def settled_day(now: dt.datetime) -> dt.date:
    """The last day the rollups cover: the day before yesterday (local)."""
    return now.astimezone(LONDON).date() - dt.timedelta(days=2)


def _first(qs, field: str) -> dt.datetime | None:
    # Only instants the boundary rule admits (rooms.bounds): a year-1 row written before
    # the rule would make the rollup start at year 1 or fail to read the minimum at all.
    return qs.filter(**{f"{field}__gte": EARLIEST, f"{field}__lt": LATEST}).aggregate(m=Min(field))[
        "m"
    ]


def oldest_day(now: dt.datetime) -> dt.date:
    firsts = [
        _first(PlannedVisit.objects, "window_start"),
        _first(Visit.objects, "checked_in_at"),
        _first(Alert.objects, "opened_at"),
        _first(Observation.objects, "at"),
    ]
    firsts = [f for f in firsts if f is not None]
    return min(firsts).astimezone(LONDON).date() if firsts else settled_day(now)


def _write(first_day: dt.date, last_day: dt.date) -> int:
    w = Window(
        "rollup", _midnight(first_day), _midnight(last_day + dt.timedelta(days=1)), "day", ""
    )
    DayTotals.objects.filter(day__gte=first_day, day__lte=last_day).delete()
    DomainDay.objects.filter(day__gte=first_day, day__lte=last_day).delete()
    rows: dict[tuple, dict] = {}
    for part in (live_visit_sums(Scope(), w), live_alert_sums(Scope(), w)):
        for key, values in part.items():
            rows.setdefault(key, {}).update(values)
    DayTotals.objects.bulk_create(
        [
            DayTotals(
                day=dt.date.fromisoformat(b),
                council_id=c,
                provider_id=p,
                **{k: v.get(k, 0) for k in (*VISIT_KEYS, *ALERT_KEYS)},
            )
            for (b, c, p), v in rows.items()
        ],
        batch_size=2000,
    )
    domains = live_domain_sums(Scope(), w, DOMAINS)
    DomainDay.objects.bulk_create(
        [
            DomainDay(
                day=dt.date.fromisoformat(b),
                council_id=c,
                provider_id=p,
                domain=d,
                score_sum=v["score_sum"],
                n=v["n"],
            )
            for (b, c, p, d), v in domains.items()
        ],
        batch_size=2000,
    )
    return len(rows) + len(domains)


def refresh_all(now: dt.datetime) -> int:
    """Rebuild every day from the oldest data to the settled day."""
    first, last = oldest_day(now), settled_day(now)
    with transaction.atomic():
        mark = RollupMark.objects.select_for_update().filter(name=ROLLUP).first()
        n = _write(first, last) if first <= last else 0
        if mark is None:
            RollupMark.objects.create(
                name=ROLLUP, since_day=first, through_day=last, refreshed_at=now
            )
        else:
            RollupMark.objects.filter(pk=mark.pk).update(
                since_day=first, through_day=last, refreshed_at=now
            )
    return n


def refresh_recent(now: dt.datetime, days: int = RECENT_DAYS) -> int:
    """Recompute the last ``days`` settled days and move the mark; a first run or a gap
    since the last refresh rebuilds everything."""
    last = settled_day(now)
    with transaction.atomic():
        mark = RollupMark.objects.select_for_update().filter(name=ROLLUP).first()
        if mark is None or mark.through_day < last - dt.timedelta(days=days):
            full = True
        else:
            full = False
            first = max(mark.since_day, last - dt.timedelta(days=days - 1))
            n = _write(first, last) if first <= last else 0
            RollupMark.objects.filter(pk=mark.pk).update(
                through_day=max(last, mark.through_day), refreshed_at=now
            )
    return refresh_all(now) if full else n


class RollupWorker:
    """``COCARE_WORKERS["dashboards"]``: refreshes the recent rollups every 15 minutes.
    The timer is the mark's ``refreshed_at`` column (DESIGN.md §3.5).

    A refresh that raises is recorded (``rooms.isolation``: ``WorkerFailure``, ref 0,
    never skipped, resolved by the next success) and retried after ``REFRESH_EVERY``, not
    on every poll: a failing full rebuild must not keep a core busy."""

    name = "dashboards.rollup"

    def __init__(self) -> None:
        self.retry_at: dt.datetime | None = None

    def run_once(self, now: dt.datetime) -> int:
        mark = RollupMark.objects.filter(name=ROLLUP).first()
        if mark is not None and mark.refreshed_at > now - REFRESH_EVERY:
            return 0
        if self.retry_at is not None and now < self.retry_at:
            return 0
        # The whole refresh is the unit (ref 0); never skipped, only spaced out.
        guard = RowGuard(self.name, RollupMark, max_attempts=None, passthrough=(IntegrityError,))
        try:
            n = guard.run(0, partial(refresh_recent, now), now)
        except IntegrityError:  # another refresher created the first mark: next tick
            log.info("dashboards rollup: lost the race to another refresher")
            return 0
        if n is None:
            self.retry_at = now + REFRESH_EVERY
            return 0
        self.retry_at = None
        log.info("dashboards rollup refreshed (%d rows)", n)
        return 1


def make_workers():
    return [RollupWorker()]
