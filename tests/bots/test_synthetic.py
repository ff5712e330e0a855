"""Synthetic history: plausible rows, linked, within range, and cheap in queries."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bots.models import Observation, Visit
from bots.selection import MAX_PER_VISIT
from bots.synthetic import generate_history
from tests.support.cast import T0

pytestmark = pytest.mark.django_db


def test_generate_history_writes_linked_visits_and_observations_in_few_queries(cast):
    start = T0 - dt.timedelta(days=365)
    with CaptureQueriesContext(connection) as ctx:
        got = generate_history(
            cast.peggy,
            [cast.anna, cast.outsider_worker],
            start,
            T0,
            random.Random(3),
            visits_per_week=7,
            question_rate=0.5,
            with_goal=True,
        )
    assert got.visits == Visit.objects.count()
    assert 320 <= got.visits <= 366
    assert got.observations == Observation.objects.count() > 0
    assert len(ctx.captured_queries) < 60  # bulk inserts, no per-row queries
    v = Visit.objects.order_by("checked_in_at")
    assert v.first().checked_in_at >= start
    assert v.last().checked_in_at < T0
    per_visit = {}
    for o in Observation.objects.all():
        per_visit[o.visit_id] = per_visit.get(o.visit_id, 0) + 1
        assert 0 <= o.score <= 4
    assert max(per_visit.values()) <= MAX_PER_VISIT
    domains = set(Observation.objects.values_list("domain", flat=True))
    assert domains == {"health", "social_care_needs", "care_experience", "personal_goals"}
