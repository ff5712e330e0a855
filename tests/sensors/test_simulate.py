"""``manage.py simulate_sensors``: a bounded day of events through the real ingestion path."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from escalation.models import Alert
from rooms.models import Message
from sensors.management.commands.simulate_sensors import DAY, day_events
from sensors.models import SensorEvent, SensorHub
from tests.escalation.helpers import drain
from tests.sensors.helpers import freeze_local


def run(**kw) -> str:
    out = io.StringIO()
    call_command("simulate_sensors", stdout=out, **kw)
    return out.getvalue()


@pytest.mark.django_db
def test_a_simulated_day_raises_the_night_door_and_the_pendant_once(cast):
    freeze_local("18:30")
    out = run()
    assert "Created hub" in out and f"{len(DAY)} events for Peggy: {len(DAY)} stored" in out
    assert SensorEvent.objects.count() == len(DAY)
    assert not Message.objects.filter(room=cast.family, body__contains="Pendant").exists()
    again = run(share_with_family=True)
    assert f"0 stored, {len(DAY)} already there" in again
    assert SensorHub.objects.count() == 1
    drain()
    assert sorted(Alert.objects.values_list("concern", flat=True)) == [
        "door_at_night",
        "pendant_pressed",
    ]


@pytest.mark.django_db
def test_a_calm_day_raises_nothing(cast):
    freeze_local("23:00")
    run(calm=True)
    drain()
    assert not Alert.objects.exists()
    assert SensorEvent.objects.count() == sum(1 for *_, tag in DAY if tag != "alert")


def test_the_day_is_the_24_hours_before_now_and_its_ids_are_stable():
    import datetime as dt

    now = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    events = day_events(now)
    times = [dt.datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert times == sorted(times)
    assert all(now - dt.timedelta(hours=24) < t <= now for t in times)
    assert day_events(now) == events
    assert len({e["event_id"] for e in events}) == len(events)


@pytest.mark.django_db(transaction=True)
def test_over_http_it_sends_the_day_with_a_fresh_token_to_a_running_server(live_server):
    from tests.support.cast import build_cast

    cast = build_cast()
    freeze_local("18:30")
    run(calm=True)  # creates the hub; its first token is gone
    out = run(url=live_server.url)  # rotates the token, sends the whole day over HTTP
    alerting = sum(1 for *_, tag in DAY if tag == "alert")
    assert f"{alerting} stored, {len(DAY) - alerting} already there" in out
    assert SensorEvent.objects.filter(service_user=cast.peggy).count() == len(DAY)
