"""The bots' contribution to ``manage.py health`` (``COCARE_HEALTH_CHECKS["bots"]``).

Stuck timers: missed-visit checks (``PlannedVisit.missed_check_at``) and question expiries
(``BotQuestion.expires_at``) more than the grace past due and still unfired — the ticker
is down or stuck. Rows the ticker skipped are reported once, as skipped worker failures
(``rooms.health``), not again here. Ids only; datetimes of a row are never loaded (a
year-1 row must not break the check that is meant to find it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import F, Q, QuerySet

from bots.models import BotQuestion, PlannedVisit, VisitPattern
from bots.patterns import HORIZON_DAYS, PatternTicker, local_today
from bots.runner import BotTicker
from rooms.health import Finding, Thresholds, overdue
from rooms.isolation import label_of, skipped_ids


def overdue_missed_checks(now: dt.datetime, grace: dt.timedelta) -> QuerySet:
    return PlannedVisit.objects.filter(
        status=PlannedVisit.Status.PLANNED,
        missed_flagged_at__isnull=True,
        visit__isnull=True,
        missed_check_at__lt=now - grace,
    ).exclude(pk__in=skipped_ids(BotTicker.name, label_of(PlannedVisit)))


def overdue_expiries(now: dt.datetime, grace: dt.timedelta) -> QuerySet:
    return BotQuestion.objects.filter(
        answered_at__isnull=True, expired_at__isnull=True, expires_at__lt=now - grace
    ).exclude(pk__in=skipped_ids(BotTicker.name, label_of(BotQuestion)))


def overdue_patterns(now: dt.datetime, grace: dt.timedelta) -> QuerySet:
    """Active patterns planned less far ahead than the ticker would have by ``now - grace``
    (``VisitPattern.generated_until`` is the timer column)."""
    behind = local_today(now - grace) + dt.timedelta(days=HORIZON_DAYS)
    return (
        VisitPattern.objects.filter(ended_at__isnull=True, generated_until__lt=behind)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gt=F("generated_until")))
        .exclude(pk__in=skipped_ids(PatternTicker.name, label_of(VisitPattern)))
    )


def checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    yield from overdue(
        "bots.ticker missed-visit checks",
        "planned visit(s)",
        overdue_missed_checks(now, thresholds.grace),
        thresholds.grace,
    )
    yield from overdue(
        "bots.patterns weekly patterns",
        "pattern(s) not planned ahead",
        overdue_patterns(now, thresholds.grace),
        thresholds.grace,
    )
    yield from overdue(
        "bots.ticker question expiries",
        "question(s)",
        overdue_expiries(now, thresholds.grace),
        thresholds.grace,
    )
