"""Done means 4: sensor events replayed after a worker restart raise each alert once, on
real PostgreSQL (``select_for_update(skip_locked=True)``, the advisory log lock and the
partial unique constraints all behave there as in production).

The hub sends a night: a pendant press, the front door at 01:45, some movement. The
escalation workers run part of the way and are dropped (a restart); the hub, restarted
too, sends the whole night again with a little more; fresh workers drain; the detector's
cursor is reset and everything is replayed; the morning's "no movement" check is claimed
by a ticker that dies before committing, and a new ticker fires it. Each alert exists
once, each triggering event has one flag, and every keyed effect is unique.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import connection, transaction

from cocare_chat import clock
from escalation.detector import Detector
from escalation.models import Alert, Flag, Notification, StepRun
from escalation.push_sender import PushSender
from escalation.ticker import Ticker
from rooms.models import Message
from sensors.models import MovementCheck, SensorEvent
from sensors.ticker import MovementTicker
from tests.escalation.helpers import drain
from tests.sensors.helpers import LONDON, ev, freeze_local, make_hub, send
from tests.support.services import missing

pytestmark = [pytest.mark.services, pytest.mark.django_db]

MIN = dt.timedelta(minutes=1)


class Died(Exception):
    """Stands for a worker process killed before its transaction committed."""


def at(hhmm: str) -> dt.datetime:
    day = clock.now().astimezone(LONDON).date()
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=LONDON)


def die_after_firing(now: dt.datetime) -> None:
    with transaction.atomic():
        assert MovementTicker().fire_due(now) == 1
        raise Died


def keys_unique() -> None:
    steps = Counter(StepRun.objects.values_list("alert_id", "seq"))
    assert max(steps.values()) == 1
    notes = Counter(
        Notification.objects.values_list("alert_id", "step_seq", "recipient_id", "device_id")
    )
    assert max(notes.values()) == 1


def test_sensor_events_replayed_after_a_worker_restart_raise_each_alert_once(cast):
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    freeze_local("01:50", day=dt.date(2026, 11, 12))
    _, token = make_hub(cast.peggy)
    night = [
        ev("bed-1", "bed", 1, at=at("00:30"), event_id="bed-in"),
        ev("pir-hall", "motion", 1, at=at("01:20"), event_id="hall-1"),
        ev("door-front", "door", 1, at=at("01:45"), event_id="door-open"),
        ev("door-front", "door", 0, at=at("01:47"), event_id="door-shut"),
        ev("pendant-1", "pendant", 1, at=at("01:48"), event_id="pendant-1"),
        ev("pir-hall", "motion", 1, at=at("01:49"), event_id="hall-2"),
    ]
    assert send(token, night).json()["stored"] == 6
    movement = MovementTicker()
    movement.run_once(clock.now())  # schedules the morning's check

    # The escalation worker gets through part of the log, then the process is gone.
    partial = Detector()
    partial.batch_size = 3
    partial.run_once(clock.now())
    Ticker().run_once(clock.now())
    del partial, movement

    # The hub restarts too and sends the whole night again, plus what came since.
    clock.advance(5 * MIN)
    later = [ev("pir-hall", "motion", 1, at=at("01:53"), event_id="hall-3")]
    r = send(token, night + later)
    assert r.status_code == 201
    assert [x["status"] for x in r.json()["results"]] == ["duplicate"] * 6 + ["stored"]

    drain(Detector(), Ticker(), PushSender(), MovementTicker())
    assert set(Alert.objects.values_list("concern", flat=True)) == {
        "pendant_pressed",
        "door_at_night",
    }

    # A replay of the whole log by a fresh detector (cursor reset) changes nothing.
    Detector().reset()
    drain(Detector(), Ticker(), PushSender())

    # 10:01: a ticker claims the morning check and dies before committing.
    clock.advance(dt.timedelta(hours=8, minutes=6))
    with pytest.raises(Died):
        die_after_firing(clock.now())
    assert MovementCheck.objects.get(day=dt.date(2026, 11, 12)).state == "pending"
    # Its successor fires it; the hub replays everything once more; all workers drain.
    drain(Detector(), Ticker(), PushSender(), MovementTicker())
    assert send(token, night + later).status_code == 200
    Detector().reset()
    drain(Detector(), Ticker(), PushSender(), MovementTicker())

    by_concern = Counter(Alert.objects.values_list("concern", flat=True))
    assert by_concern == {"pendant_pressed": 1, "door_at_night": 1, "no_movement": 1}
    assert Counter(Flag.objects.values_list("concern", flat=True)) == by_concern
    opened = Message.objects.filter(room=cast.team, kind="system", body__contains=" opened: ")
    assert opened.count() == 3
    assert SensorEvent.objects.count() == 7
    signals = Message.objects.filter(room=cast.team, kind="signal")
    assert signals.count() == 8  # seven events and one "no movement"
    assert MovementCheck.objects.get(day=dt.date(2026, 11, 12)).state == "raised"
    keys_unique()
