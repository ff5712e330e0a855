"""Daily rollups behind the provider and council dashboards (docs/dashboards.md, "Scale").

Derived data only: every row can be recomputed from visits, planned visits, alerts and
observations (``web.dashboards.rollup.refresh``), so they are deleted and rewritten per
day range, never edited. Keyed by (council, provider, local day) — a provider can serve
several councils, and a council sees only its own people.
"""

from __future__ import annotations

from django.db import models

from rooms.models import Organisation


class DayTotals(models.Model):
    council = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()  # Europe/London
    planned = models.IntegerField(default=0)
    delivered = models.IntegerField(default=0)
    late = models.IntegerField(default=0)
    late_seconds = models.FloatField(default=0)
    unplanned = models.IntegerField(default=0)
    visit_minutes = models.BigIntegerField(default=0)
    opened = models.IntegerField(default=0)
    acked = models.IntegerField(default=0)
    within_15 = models.IntegerField(default=0)
    escalated = models.IntegerField(default=0)
    safeguarding = models.IntegerField(default=0)
    response_seconds = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["council", "provider", "day"], name="one_day_totals_row"
            )
        ]
        indexes = [models.Index(fields=["day", "council", "provider"])]


class DomainDay(models.Model):
    council = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    domain = models.CharField(max_length=30)
    score_sum = models.IntegerField(default=0)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["council", "provider", "day", "domain"], name="one_domain_day_row"
            )
        ]
        indexes = [models.Index(fields=["day", "council", "provider"])]


class RollupMark(models.Model):
    """How far the rollups are complete: every local day up to ``through_day`` inclusive
    (``since_day``: the oldest day with data when they were built; nothing is older).
    Days after ``through_day`` are read live from the base tables."""

    name = models.CharField(max_length=30, unique=True)
    since_day = models.DateField()
    through_day = models.DateField()
    refreshed_at = models.DateTimeField()
