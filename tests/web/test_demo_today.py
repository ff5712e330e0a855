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
