"""Sensor signals become alerts through the real detector; the movement timer is a column
claimed by a ticker that can be killed and replaced at any point."""

from __future__ import annotations

import datetime as dt

import pytest

from cocare_chat import clock
from escalation.detector import Detector
from escalation.models import Alert, Flag, StepRun
from escalation.push_sender import PushSender
from escalation.ticker import Ticker
from rooms.models import Message
from sensors.actions import ProfileIn, do_set_profile
from sensors.models import MovementCheck
from sensors.ticker import MovementTicker
from tests.escalation.helpers import drain
from tests.sensors.helpers import LONDON, ev, freeze_local, make_hub, send

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)


def workers(*extra):
    return (Detector(), Ticker(), PushSender(), *extra)


def local(hhmm: str) -> dt.datetime:
    """Today (local, per the frozen clock) at ``hhmm``, as an aware instant."""
    day = clock.now().astimezone(LONDON).date()
    return dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=LONDON)


def notices(cast) -> list[str]:
    return list(
        Message.objects.filter(room=cast.team, kind="system", body__contains="opened").values_list(
            "body", flat=True
        )
    )


def test_a_pendant_press_opens_one_high_alert_and_a_second_press_attaches_to_it(cast):
    freeze_local("14:00")
    _, token = make_hub(cast.peggy)
    send(token, [ev("pendant-1", "pendant", 1, event_id="p1")])
    drain(*workers())
    alert = Alert.objects.get()
    assert (alert.concern, alert.severity, alert.state) == ("pendant_pressed", "high", "open")
    flag = Flag.objects.get()
    assert flag.rule == "sensor:sensor.pendant_pressed" and flag.source == "sensor"
    assert flag.reason.startswith("Pendant pressed at 14:00")
    assert notices(cast) == [f"Alert #{alert.id} opened: pendant pressed (high)."]
    assert StepRun.objects.filter(alert=alert, step_type="notify_role").exists()

    clock.advance(3 * MIN)
    send(
        token,
        [
            ev("pendant-1", "pendant", 1, event_id="p2"),
            ev("pendant-1", "pendant", 0, event_id="p2-cancel"),
        ],
    )
    drain(*workers())
    assert Alert.objects.count() == 1 and Flag.objects.count() == 2


def test_the_front_door_at_night_raises_an_alert_and_by_day_does_not(cast):
    freeze_local("14:00")
    _, token = make_hub(cast.peggy)
    send(
        token,
        [
            ev("door-front", "door", 1, event_id="day"),
            ev("door-kitchen", "door", 1, at=local("02:30"), event_id="cupboard"),
        ],
    )
    drain(*workers())
    assert not Alert.objects.exists()
    # Delivered late (the hub was offline): judged by when it happened, not when it arrived.
    send(token, [ev("door-front", "door", 1, at=local("02:40"), event_id="night")])
    drain(*workers())
    alert = Alert.objects.get()
    assert (alert.concern, alert.severity) == ("door_at_night", "medium")
    assert Flag.objects.get().reason.startswith("Door opened at night at 02:40")


def test_no_movement_by_ten_raises_once_and_the_next_day_is_scheduled(cast):
    freeze_local("06:00", day=dt.date(2026, 3, 2))
    _, token = make_hub(cast.peggy)
    ticker = MovementTicker()
    assert ticker.run_once(clock.now()) == 1  # seeded today's check
    check = MovementCheck.objects.get()
    assert check.day == dt.date(2026, 3, 2) and check.due_at == local("10:00")
    clock.advance(3 * 60 * MIN + 59 * MIN)  # 09:59
    assert ticker.run_once(clock.now()) == 0
    clock.advance(2 * MIN)  # 10:01
    assert ticker.run_once(clock.now()) == 1
    check.refresh_from_db()
    assert check.state == "raised" and check.message.payload["data"]["kind"] == "no_movement"
    assert check.message.room_id == cast.team.id
    del ticker  # "killed": a new one finds nothing more to do today
    assert MovementTicker().run_once(clock.now()) == 0
    drain(*workers(MovementTicker()))
    alert = Alert.objects.get()
    assert (alert.concern, alert.severity) == ("no_movement", "high")
    assert Flag.objects.get().reason == (
        "No movement detected in the morning: none between 05:00 and 10:00"
    )
    tomorrow = MovementCheck.objects.get(state="pending")
    assert tomorrow.day == dt.date(2026, 3, 3)

    # The next morning she is up at 07:10: the check passes and raises nothing.
    clock.advance(DAY - 60 * MIN)  # 09:01 on the 3rd
    send(token, [ev("bed-1", "bed", 0, at=local("07:10"), event_id="up")])
    clock.advance(60 * MIN)
    drain(*workers(MovementTicker()))
    tomorrow.refresh_from_db()
    assert tomorrow.state == "ok"
    assert Flag.objects.count() == 1 and Alert.objects.count() == 1
    Detector().reset()
    drain(*workers(MovementTicker()))
    assert Flag.objects.count() == 1 and Alert.objects.count() == 1


def test_a_ticker_down_for_three_days_checks_each_day_once_on_its_own_evidence(cast):
    freeze_local("06:00", day=dt.date(2026, 6, 1))
    _, token = make_hub(cast.peggy)
    MovementTicker().run_once(clock.now())
    clock.advance(DAY + 60 * MIN)  # 07:00 on 2 June: movement that day only
    send(token, [ev("pir-hall", "motion", 1, event_id="m-0602")])
    clock.advance(2 * DAY)  # 07:00 on 4 June; three checks overdue, the 4th still ahead
    drain(*workers(MovementTicker()))
    states = dict(MovementCheck.objects.values_list("day", "state"))
    assert states == {
        dt.date(2026, 6, 1): "raised",
        dt.date(2026, 6, 2): "ok",
        dt.date(2026, 6, 3): "raised",
        dt.date(2026, 6, 4): "pending",
    }
    assert Alert.objects.filter(concern="no_movement").count() == 1
    assert Flag.objects.filter(concern="no_movement").count() == 2


def test_a_person_without_a_movement_time_or_sensor_is_never_checked(cast):
    freeze_local("06:00")
    make_hub(cast.peggy, devices=[{"device_id": "pendant-1", "kind": "pendant"}])
    assert MovementTicker().run_once(clock.now()) == 0  # no motion or bed sensor
    hub2, _ = make_hub(cast.peggy, devices=[{"device_id": "pir", "kind": "motion"}], name="2")
    do_set_profile(cast.peggy, ProfileIn(movement_expected_by=None))
    assert MovementTicker().run_once(clock.now()) == 0
    do_set_profile(cast.peggy, ProfileIn(movement_expected_by=dt.time(9, 30)))
    assert MovementTicker().run_once(clock.now()) == 1
    assert MovementCheck.objects.get().due_at == local("09:30")


def test_one_failing_check_is_retried_then_set_aside_and_the_others_still_fire(cast, monkeypatch):
    from tests.sensors.helpers import other_tenant

    freeze_local("06:00")
    make_hub(cast.peggy)
    stan = other_tenant().stan
    make_hub(stan, name="Stan's hub")
    ticker = MovementTicker()
    ticker.run_once(clock.now())
    clock.advance(5 * 60 * MIN)
    real = MovementTicker._raise

    def broken(self, check, now):
        if check.service_user_id == cast.peggy.id:
            raise RuntimeError("boom")
        return real(self, check, now)

    monkeypatch.setattr(MovementTicker, "_raise", broken)
    for _ in range(3):
        MovementTicker().run_once(clock.now())
    rows = {c.service_user_id: c for c in MovementCheck.objects.filter(day=clock.now().date())}
    assert rows[cast.peggy.id].state == "failed" and rows[cast.peggy.id].attempts == 3
    assert rows[stan.id].state == "raised"


def test_the_family_hears_of_no_movement_only_if_the_person_agreed(cast):
    freeze_local("06:00")
    make_hub(cast.peggy)
    MovementTicker().run_once(clock.now())
    family = Message.objects.filter(room=cast.family).count()
    clock.advance(4 * 60 * MIN + MIN)
    MovementTicker().run_once(clock.now())
    assert Message.objects.filter(room=cast.family).count() == family

    do_set_profile(cast.peggy, ProfileIn(family_notices=["no_movement"]))
    clock.advance(DAY)
    drain(MovementTicker())
    bodies = list(Message.objects.filter(room=cast.family).values_list("body", flat=True))
    assert bodies[family:] == [
        "No movement noticed by 10:00 \u2014 the care team has been alerted."
    ]
