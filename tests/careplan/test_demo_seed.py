"""The demo seed gives Peggy a care plan and two medicines (one time-critical), so
``./dev demo`` shows the tasks card — and the medicines on it near a dose time."""

from __future__ import annotations

import datetime as dt

import pytest

from careplan import botcard, wire
from careplan.common import LOCAL_TZ
from rooms.models import Person, ServiceUser
from tests.careplan.helpers import visit
from web.demo import build_demo

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("hour", [7, 11, 15, 19])
def test_a_demo_visit_at_a_dose_time_has_tasks_and_the_time_critical_dose(hour):
    seeded = dt.datetime(2026, 3, 2, 6, 0, tzinfo=LOCAL_TZ)
    build_demo(seeded)
    peggy = ServiceUser.objects.get(full_name__startswith="Margaret")
    anna = Person.objects.get(user__username="anna")
    v = visit(peggy, anna, dt.datetime(2026, 3, 2, hour, 5, tzinfo=LOCAL_TZ), None)

    card = botcard.tasks_card(v)
    assert card is not None and len(card["options"]) == 3
    assert card["options"][0]["label"].startswith("★ Wash and dress")
    end = v.checked_in_at + dt.timedelta(minutes=30)
    record = wire.visit_record_wire(v, v.checked_in_at, end)
    due = [(d["name"], d["time"], d["time_critical"]) for d in record["doses_due"]]
    assert due[0] == ("Co-beneldopa 62.5 mg", f"{hour:02d}:00", True)


def test_the_demo_bedtime_visit_also_has_the_laxative():
    seeded = dt.datetime(2026, 3, 2, 6, 0, tzinfo=LOCAL_TZ)
    build_demo(seeded)
    peggy = ServiceUser.objects.get(full_name__startswith="Margaret")
    anna = Person.objects.get(user__username="anna")
    v = visit(peggy, anna, dt.datetime(2026, 3, 2, 20, 0, tzinfo=LOCAL_TZ), None)
    end = v.checked_in_at + dt.timedelta(minutes=30)
    record = wire.visit_record_wire(v, v.checked_in_at, end)
    assert [d["name"] for d in record["doses_due"]] == ["Senna 7.5 mg"]
