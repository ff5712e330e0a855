"""Daily rollups (web/dashboards/rollup.py): provider and council figures read from the
rollups plus the live days after them are exactly the all-live figures; the refresher is
a column timer; a refresh is idempotent."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.web.dashboards_data import NOW, build_history
from web.dashboards import queries as q
from web.dashboards.models import DayTotals, RollupMark
from web.dashboards.periods import window
from web.dashboards.queries import Scope
from web.dashboards.rollup import RollupWorker, refresh_all, refresh_recent

pytestmark = pytest.mark.django_db


def figures(cast, now):
    out = {}
    for name, scope in (
        ("provider", Scope(provider_id=cast.provider.pk)),
        ("council", Scope(council_id=cast.council.pk)),
        ("council+provider", Scope(council_id=cast.council.pk, provider_id=cast.provider.pk)),
    ):
        for period in ("4w", "13w", "3y"):
            w = window(period, now)
            out[name, period] = (
                q.visit_series(scope, w),
                q.alert_series(scope, w),
                q.domain_series(scope, w),
                q.hours(scope, w),
                q.provider_table(scope, w) if scope.council_id else None,
            )
    return out


@pytest.mark.parametrize("days_later", [0, 1, 5])
def test_rollup_plus_live_days_equal_all_live_figures(cast, days_later):
    build_history(cast)
    now = NOW + dt.timedelta(days=days_later)
    live = figures(cast, now)
    assert not RollupMark.objects.exists()
    refresh_all(now)
    mark = RollupMark.objects.get()
    assert mark.through_day == (now - dt.timedelta(days=2)).date()
    if days_later == 5:  # every history day is in the rollups, none read live
        assert DayTotals.objects.filter(day=dt.date(2026, 3, 3)).get().late == 1
    assert figures(cast, now) == live


def test_refresh_is_idempotent_and_picks_up_late_changes(cast):
    build_history(cast)
    now = NOW + dt.timedelta(days=5)
    refresh_all(now)
    rows = sorted(DayTotals.objects.values_list("day", "planned", "delivered", "late"))
    refresh_recent(now)
    assert sorted(DayTotals.objects.values_list("day", "planned", "delivered", "late")) == rows
    from bots.models import PlannedVisit

    PlannedVisit.objects.filter(window_start__date=dt.date(2026, 3, 3), visit__isnull=True).update(
        status="cancelled"
    )
    before = q.visit_series(Scope(provider_id=cast.provider.pk), window("4w", now))
    assert before["totals"]["planned"] == 3  # stale until the next refresh
    refresh_recent(now)
    after = q.visit_series(Scope(provider_id=cast.provider.pk), window("4w", now))
    assert after["totals"]["planned"] == 2 and after["totals"]["missed"] == 0


def test_worker_refreshes_on_its_column_timer(cast):
    build_history(cast)
    w = RollupWorker()
    assert w.run_once(NOW) == 1  # first run builds everything
    assert w.run_once(NOW + dt.timedelta(minutes=10)) == 0
    assert w.run_once(NOW + dt.timedelta(minutes=16)) == 1
    assert RollupMark.objects.get().refreshed_at == NOW + dt.timedelta(minutes=16)
