"""Timers survive a restart; a replayed detector duplicates nothing; the auditor sees gaps."""

from __future__ import annotations

import datetime as dt

from django.core.management import call_command

from escalation.auditor import overdue_alerts
from escalation.detector import Detector
from escalation.models import Alert, AlertEvent, Flag, Notification, ProviderPolicy, StepRun
from escalation.ticker import Ticker
from rooms.models import Message, PushDevice
from tests.escalation.helpers import drain, say
from tests.support.cast import T0

MIN = dt.timedelta(minutes=1)

POLICY = {
    "steps": [
        {"type": "notify_role"},
        {"type": "wait", "minutes": 10},
        {"type": "notify_deputies"},
        {"type": "wait", "minutes": 10},
        {"type": "notify_council"},
    ],
    "council_at_once_for": ["safeguarding"],
    "quiet_hours": None,
}


def test_killed_ticker_resumes_each_step_once_on_schedule_and_council_once(cast, frozen_clock):
    ProviderPolicy.objects.create(provider=cast.provider, config=POLICY, updated_at=T0)
    say(cast.anna, cast.team, "She fell on the stairs")
    Detector().run_once(frozen_clock.now())
    ticker = Ticker()
    ticker.run_once(frozen_clock.now())
    alert = Alert.objects.get()
    assert [r.step_type for r in StepRun.objects.filter(alert=alert)] == ["notify_role", "wait"]
    assert alert.next_step_at == T0 + 10 * MIN
    del ticker  # "killed": nothing about the schedule lived in it

    frozen_clock.advance(25 * MIN)  # past two steps (deputies at +10, council at +20)
    assert [o.alert for o in overdue_alerts(frozen_clock.now())] == [alert.id]
    new = Ticker()
    assert new.run_once(frozen_clock.now()) == 3
    assert new.run_once(frozen_clock.now()) == 0
    assert Ticker().run_once(frozen_clock.now()) == 0  # a second ticker finds nothing

    runs = [(r.seq, r.step_type, r.due_at - T0) for r in StepRun.objects.filter(alert=alert)]
    assert runs == [
        (1, "notify_role", 0 * MIN),
        (2, "wait", 0 * MIN),
        (3, "notify_deputies", 10 * MIN),
        (4, "wait", 10 * MIN),
        (5, "notify_council", 20 * MIN),
    ]
    council = Notification.objects.filter(alert=alert, recipient=cast.colin)
    assert council.count() == 1
    alert.refresh_from_db()
    assert alert.council_notified_at == T0 + 25 * MIN
    assert alert.next_step_at is None
    assert overdue_alerts(frozen_clock.now()) == []

    frozen_clock.advance(600 * MIN)
    assert Ticker().run_once(frozen_clock.now()) == 0
    assert Notification.objects.filter(alert=alert, recipient=cast.colin).count() == 1


def test_replaying_the_detector_duplicates_nothing(cast, frozen_clock):
    now = frozen_clock.now()
    PushDevice.objects.create(
        person=cast.carol, token="carol-phone-token", token_hash="c1", created_at=now
    )
    say(cast.debbie, cast.family, "Mum was on the floor when I rang this morning")
    say(cast.anna, cast.team, "He hit her")
    say(cast.anna, cast.team, "Refused her tablets")
    drain()
    alert = Alert.objects.get(concern="medication")
    say(cast.carol, cast.team, f"ack {alert.id}")
    drain()

    def snapshot():
        return (
            Flag.objects.count(),
            Alert.objects.count(),
            Notification.objects.count(),
            StepRun.objects.count(),
            AlertEvent.objects.count(),
            Message.objects.filter(kind="system").count(),
        )

    before = snapshot()
    assert before[0] == 3
    assert before[1] == 3
    Detector().reset()
    drain()
    assert snapshot() == before
    Detector().reset()
    drain()
    assert snapshot() == before


def test_auditor_command_reports_overdue_alerts_and_exits_non_zero(cast, frozen_clock, capsys):
    import pytest

    say(cast.anna, cast.team, "She fell")
    drain(Detector())  # the ticker part runs inline on open: first steps done
    frozen_clock.advance(60 * MIN)  # the ticker is "down"
    with pytest.raises(SystemExit) as exc:
        call_command("escalation_audit", "--json")
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert f'"alert": {Alert.objects.get().id}' in out
    assert "fell" not in out
    drain()
    call_command("escalation_audit")  # nothing overdue: returns normally
    assert "0 overdue alert(s)" in capsys.readouterr().out
