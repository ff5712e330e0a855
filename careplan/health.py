"""The visit record's contribution to ``manage.py health``
(``COCARE_HEALTH_CHECKS["careplan"]``).

Stuck timers: dose prompts (``DosePrompt.due_at``) still pending more than the grace past
due — the ``careplan`` worker's prompt ticker is down or stuck. Ids only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import QuerySet

from careplan.models import DosePrompt
from rooms.health import Finding, Thresholds, overdue


def overdue_prompts(now: dt.datetime, grace: dt.timedelta) -> QuerySet:
    return DosePrompt.objects.filter(state=DosePrompt.State.PENDING, due_at__lt=now - grace)


def checks(now: dt.datetime, thresholds: Thresholds) -> Iterable[Finding]:
    yield from overdue(
        "careplan.prompts dose prompts",
        "dose prompt(s)",
        overdue_prompts(now, thresholds.grace),
        thresholds.grace,
    )
