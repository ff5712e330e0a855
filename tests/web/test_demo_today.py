"""``seed_demo`` (what ``./dev demo`` runs) plans today's visits for the demo care workers
relative to now and seeds a few months of history, so the home page has today's visits and
the dashboards have data — and running it again (the banner does) adds nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.management import call_command
from django.test import Client

from bots.models import PlannedVisit, Visit
from careplan.common import LOCAL_TZ
from cocare_chat import clock
from rooms.models import Person
from web.demo_today import plan_today

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 3, 3, 9, 7, tzinfo=LOCAL_TZ)


def _page(username: str, url: str) -> str:
    c = Client()
    c.force_login(Person.objects.get(user__username=username).user)
    r = c.get(url)
    assert r.status_code == 200, r.status_code
    return r.content.decode()


def test_seed_demo_plans_todays_visits_from_now_and_a_season_of_history():
    clock.freeze(MORNING)
    call_command("seed_demo", "--quiet")
    anna = Person.objects.get(user__username="anna")
    today = PlannedVisit.objects.filter(
        worker=anna, window_start__date=MORNING.date(), notes__startswith="Planned by the demo"
    ).order_by("window_start")
    starts = [pv.window_start.astimezone(LOCAL_TZ).strftime("%H:%M") for pv in today]
    assert starts == ["08:55", "10:35", "13:05"]  # now-10 min (open now), +90, +240 on 5s
    assert today[0].window_end > MORNING  # Anna can check in straight away

    home = _page("anna", "/")
    assert "No visits planned for you today" not in home
    assert "Margaret" in home or "Peggy" in home

    # History: visits over the last 13 weeks, none in the future, and the dashboards show them.
    visits = Visit.objects.filter(service_user__provider__name="Brightwater Home Care")
    first = visits.order_by("checked_in_at").first()
    assert first is not None and first.checked_in_at >= MORNING - dt.timedelta(weeks=13, days=1)
    assert not visits.filter(checked_in_at__gt=MORNING).exists()
    provider = _page("carol", "/dashboards/provider/")
    m = re.search(r"(\d+) of (\d+) planned", provider)
    assert m and int(m[1]) > 50 and int(m[2]) >= int(m[1]), m
    n = visits.count()
    assert n > 100

    # ./dev demo runs the command a second time for its banner: nothing new.
    planned = PlannedVisit.objects.count()
    call_command("seed_demo", "--quiet")
    assert PlannedVisit.objects.count() == planned and visits.count() == n


def test_late_in_the_evening_only_visits_that_end_today_are_planned():
    clock.freeze(dt.datetime(2026, 3, 3, 22, 0, tzinfo=LOCAL_TZ))
    call_command("seed_demo", "--quiet", "--history-weeks", "0")
    ends = PlannedVisit.objects.filter(notes__startswith="Planned by the demo").values_list(
        "window_end", flat=True
    )
    midnight = dt.datetime(2026, 3, 4, 0, 0, tzinfo=LOCAL_TZ)
    assert ends and all(e <= midnight for e in ends)
    assert len(ends) < 5  # the 02:00 visit (+240 min) is tomorrow's, not planned
    assert not Visit.objects.exists()  # no history asked for
    assert plan_today() == 0  # already planned today


@pytest.mark.parametrize("hh_mm", [(23, 50), (0, 5)])
def test_around_midnight_the_visit_open_now_is_planned_and_on_annas_home(hh_mm):
    """At 23:50 the open visit runs past midnight; at 00:05 it began yesterday. Either way
    Anna can check in now, and her home page lists it as today's work."""
    now = dt.datetime(2026, 3, 4, *hh_mm, tzinfo=LOCAL_TZ)
    clock.freeze(now)
    call_command("seed_demo", "--quiet", "--history-weeks", "0")
    anna = Person.objects.get(user__username="anna")
    open_now = PlannedVisit.objects.get(
        worker=anna, window_start__lte=now, window_end__gt=now, notes__startswith="Planned by"
    )
    assert open_now.service_user.full_name == "Margaret Hughes"
    home = _page("anna", "/")
    assert "No visits planned for you today" not in home
    assert open_now.window_start.astimezone(LOCAL_TZ).strftime("%H:%M") in home
    assert plan_today() == 0  # ./dev demo's second run adds nothing


def test_a_night_visit_that_began_yesterday_is_on_the_home_of_the_day_it_ends_in():
    clock.freeze(dt.datetime(2026, 3, 3, 12, 0, tzinfo=LOCAL_TZ))
    call_command("seed_demo", "--quiet", "--history-weeks", "0")
    anna = Person.objects.get(user__username="anna")
    PlannedVisit.objects.filter(worker=anna).delete()
    from bots.schedule import PlannedVisitIn, do_create_planned_visit
    from rooms.models import ServiceUser

    su = ServiceUser.objects.get(full_name="Arthur Patel")
    start = dt.datetime(2026, 3, 3, 23, 30, tzinfo=LOCAL_TZ)
    data = PlannedVisitIn(
        worker_id=anna.pk,
        window_start=start,
        window_end=start + dt.timedelta(hours=1),
        expected_minutes=60,
        notes="Night visit",
    )
    do_create_planned_visit(su, data, now=clock.now())
    clock.freeze(dt.datetime(2026, 3, 4, 0, 10, tzinfo=LOCAL_TZ))
    assert "23:30" in _page("anna", "/")
    clock.freeze(dt.datetime(2026, 3, 5, 0, 10, tzinfo=LOCAL_TZ))  # the next night
    assert "No visits planned for you today" in _page("anna", "/")
