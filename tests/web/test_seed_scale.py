"""``build_scale`` (``seed_demo --scale``) writes linked, gap-free history in batches, and
the dashboards' daily rollups built over it agree with the base tables.

The batches are forced small here (``flush_rows``) so people straddle several COPY /
bulk_create flushes. On PostgreSQL the rows go through COPY (rooms/bulkload.py), on
SQLite through ``bulk_create``: the same assertions hold for both.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count, Max, Min, Sum

from bots.models import Observation, PlannedVisit, Visit
from escalation.models import Alert, Flag
from rooms.models import Message, Room, ServiceUser
from web.dashboards.models import DayTotals, DomainDay
from web.dashboards.periods import LONDON
from web.dashboards.rollup import settled_day
from web.demo import build_demo, build_scale

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def seeded():
    build_demo(NOW)
    batches: list[int] = []
    written = build_scale(
        4, 0.5, now=NOW, messages_per_week=3, flush_rows=700, progress=batches.append
    )
    return written, batches


def test_build_scale_writes_every_person_in_batches_with_gap_free_rooms(seeded):
    written, batches = seeded
    assert sum(batches) == 4 and len(batches) > 1  # several flushes, every person counted
    synthetic = ServiceUser.objects.filter(provider__name__startswith="Synthetic Care")
    assert synthetic.count() == 4
    assert Message.objects.filter(room__service_user__in=synthetic).count() == written == 4 * 26 * 3
    for room in Room.objects.filter(service_user__in=synthetic, kind=Room.Kind.PROFESSIONAL):
        seqs = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, room.last_seq + 1)) and room.last_seq == 26 * 3


def test_build_scale_links_each_visit_to_its_planned_window(seeded):
    visits = Visit.objects.filter(service_user__provider__name__startswith="Synthetic Care")
    assert visits.count() > 4 * 100
    assert not visits.filter(planned_visit__isnull=True).exists()
    for v in visits.select_related("planned_visit"):
        assert v.late == (v.checked_in_at > v.planned_visit.window_end)
        assert v.planned_visit.service_user_id == v.service_user_id
    missed = PlannedVisit.objects.filter(visit__isnull=True)
    assert missed.exists() and not missed.filter(missed_flagged_at__isnull=True).exists()
    obs = Observation.objects.filter(visit__in=visits).values("visit").annotate(n=Count("id"))
    assert obs and max(o["n"] for o in obs) <= 3
    # Flags point at real messages of the person's own professional room.
    for f in Flag.objects.filter(source="synthetic").select_related("message__room"):
        assert f.message.room.service_user_id == f.service_user_id


def test_dashboard_rollups_over_seeded_history_agree_with_the_base_tables(seeded):
    last = settled_day(NOW)
    cutoff = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), LONDON)
    totals = DayTotals.objects.aggregate(
        planned=Sum("planned"),
        delivered=Sum("delivered"),
        opened=Sum("opened"),
        minutes=Sum("visit_minutes"),
        first=Min("day"),
        last=Max("day"),
    )
    assert totals["last"] <= last
    assert totals["planned"] == PlannedVisit.objects.filter(window_start__lt=cutoff).count()
    assert (
        totals["delivered"]
        == Visit.objects.filter(planned_visit__window_start__lt=cutoff).count()
        > 0
    )
    # Delivered minutes are the stored per-visit figure (careplan/delivered.py: the hours
    # rules applied once), which the exports read too — not the raw durations.
    assert (
        totals["minutes"]
        == Visit.objects.filter(checked_in_at__lt=cutoff).aggregate(
            m=Sum("minutes__delivered_minutes")
        )["m"]
    )
    assert totals["opened"] == Alert.objects.filter(opened_at__lt=cutoff).count()
    domains = DomainDay.objects.aggregate(n=Sum("n"), s=Sum("score_sum"))
    obs = Observation.objects.filter(at__lt=cutoff)
    assert domains["n"] == obs.count() > 0
    assert domains["s"] == obs.aggregate(s=Sum("score"))["s"]
