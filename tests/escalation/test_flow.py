"""Flags → alerts → steps → notifications, through the real log, detector and ticker."""

from __future__ import annotations

import datetime as dt

import pytest

from escalation.alerts import do_acknowledge, do_reopen, do_resolve, do_tell_family
from escalation.models import Alert, AlertEvent, Flag, Notification, OnCallShift, StepRun
from rooms.errors import Conflict, Invalid
from rooms.messages import post_message
from rooms.models import AuditEvent, Message, PushDevice, Room
from tests.escalation.helpers import drain, say

MIN = dt.timedelta(minutes=1)


def team_notices(cast, event=None):
    qs = Message.objects.filter(room=cast.team, kind="system").order_by("seq")
    return [m for m in qs if event is None or m.payload["event"] == event]


def test_daughter_in_the_family_room_raises_an_alert_for_the_care_manager(cast, frozen_clock):
    msg = say(cast.debbie, cast.family, "Mum was on the floor when I rang this morning")
    drain()
    alert = Alert.objects.get()
    assert (alert.concern, alert.severity, alert.state) == ("falls", "high", "open")
    flag = Flag.objects.get()
    assert (flag.message_id, flag.rule, flag.source) == (msg.id, "rule:falls.floor", "rule")
    inapp = Notification.objects.filter(channel="inapp")
    assert [n.recipient_id for n in inapp] == [cast.carol.id]
    # Notices in the team room, never in the family room.
    assert [m.payload["event"] for m in team_notices(cast)] == ["alert.opened", "alert.step"]
    assert not Message.objects.filter(room=cast.family, kind="system").exists()
    assert AuditEvent.objects.filter(action="alert.opened", target=f"alert:{alert.id}").exists()


def test_negated_and_system_entries_raise_nothing(cast, frozen_clock):
    say(cast.anna, cast.team, "No falls this week, eating well")
    post_message(
        room=cast.team,
        sender=cast.bot,
        kind="system",
        body="She fell (test notice)",
        payload={"event": "x"},
    )
    post_message(room=cast.team, sender=cast.bot, kind="text", body="Did she fall today?")
    drain()
    assert not Alert.objects.exists()
    assert not Flag.objects.exists()


def test_alert_notices_do_not_trigger_themselves(cast, frozen_clock):
    say(cast.anna, cast.team, "She fell in the kitchen")
    drain()
    # The notice says "fall" but is a system entry: still one alert, one flag.
    assert Alert.objects.count() == 1
    assert Flag.objects.count() == 1


def test_later_flags_attach_to_the_open_alert_and_raise_its_severity(cast, frozen_clock):
    say(cast.anna, cast.team, "Missed her evening tablets")
    drain()
    post_message(
        room=cast.team,
        sender=cast.bot,
        kind="signal",
        payload={
            "signal": "flag",
            "data": {
                "concern": "medication",
                "severity": "high",
                "source": "bot.answer",
                "ref": "visit:1:meds",
                "reason": "Worse answer",
            },
        },
    )
    say(cast.nadia, cast.team, "Refused her tablets again")
    drain()
    alert = Alert.objects.get()
    assert alert.severity == "high"
    assert alert.flags.count() == 3
    assert [e.kind for e in alert.events.all()].count("severity_raised") == 1


def test_one_open_alert_per_concern_is_enforced_by_the_database(cast, frozen_clock):
    from django.db import IntegrityError, transaction

    say(cast.anna, cast.team, "She fell")
    drain()
    a = Alert.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            service_user=cast.peggy,
            concern="falls",
            severity="low",
            opened_at=a.opened_at,
            policy=a.policy,
        )
    # Once resolved, a new flag opens a new alert.
    do_resolve(a, cast.carol, "GP visited, no injury", frozen_clock.now())
    say(cast.anna, cast.team, "She fell again")
    drain()
    assert Alert.objects.filter(concern="falls").count() == 2


def test_edits_are_scanned_and_keyed_on_the_original_message(cast, frozen_clock):
    m = say(cast.anna, cast.team, "All fine today")
    say(cast.anna, cast.team, "She fell actually", kind="edit", target_seq=m.seq)
    say(cast.anna, cast.team, "She fell, actually", kind="edit", target_seq=m.seq)
    drain()
    assert Flag.objects.get().message_id == m.id


def test_bot_flag_signal_becomes_an_alert_about_the_referenced_message(cast, frozen_clock):
    m = say(cast.anna, cast.team, "Visit done")
    sig = post_message(
        room=cast.team,
        sender=cast.bot,
        kind="signal",
        payload={
            "signal": "flag",
            "data": {
                "concern": "missed_visit",
                "severity": "medium",
                "source": "bot.missed_visit",
                "ref": "visit:9",
                "reason": "No check-in",
                "message_id": m.id,
            },
        },
    ).message
    drain()
    f = Flag.objects.get()
    assert (f.message_id, f.subject_id, f.source, f.concern) == (
        sig.id,
        m.id,
        "bot.missed_visit",
        "missed_visit",
    )


def test_a_malformed_flag_signal_is_refused_when_written(cast, frozen_clock):
    with pytest.raises(Invalid, match=r"data\.severity") as refused:
        post_message(
            room=cast.team,
            sender=cast.bot,
            kind="signal",
            payload={
                "signal": "flag",
                "data": {
                    "concern": "falls",
                    "severity": "apocalyptic",
                    "source": "bot.answer",
                    "ref": "visit:1:mobility",
                },
            },
        )
    assert "apocalyptic" not in refused.value.message  # names the field, not the value
    with pytest.raises(Invalid, match="no consumer registered"):
        post_message(
            room=cast.team,
            sender=cast.bot,
            kind="signal",
            payload={"signal": "unheard-of", "data": {}},
        )
    assert not Message.objects.filter(kind="signal").exists()


def test_a_malformed_flag_signal_is_recorded_and_skipped_without_blocking(cast, frozen_clock):
    from rooms.models import ConsumerFailure

    # Written before flags were validated at write: stored as-is, found by the detector.
    good = post_message(
        room=cast.team,
        sender=cast.bot,
        kind="signal",
        payload={
            "signal": "flag",
            "data": {
                "concern": "falls",
                "severity": "high",
                "source": "bot.answer",
                "ref": "visit:1:mobility",
            },
        },
    )
    Message.objects.filter(pk=good.message.pk).update(
        payload={"signal": "flag", "data": {"concern": "falls", "severity": "apocalyptic"}}
    )
    say(cast.anna, cast.team, "He hit her")
    for _ in range(3):  # three poll rounds: the bad entry is retried, then skipped
        drain()
    failure = ConsumerFailure.objects.get()
    assert failure.skipped
    assert failure.error == "ValueError"
    assert Alert.objects.get().concern == "safeguarding"


def test_ack_in_the_team_room_by_the_care_manager_acknowledges(cast, frozen_clock):
    say(cast.anna, cast.team, "She fell")
    drain()
    alert = Alert.objects.get()
    say(cast.anna, cast.team, "ack")  # a care worker cannot acknowledge
    drain()
    alert.refresh_from_db()
    assert alert.state == "open"
    say(cast.carol, cast.team, f"ack {alert.id}")
    drain()
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by_id, alert.next_step_at) == (
        "acknowledged",
        cast.carol.id,
        None,
    )
    assert team_notices(cast, "alert.acknowledged")


def test_plain_ack_with_two_open_alerts_asks_which(cast, frozen_clock):
    say(cast.anna, cast.team, "She fell and is very confused")
    drain()
    say(cast.carol, cast.team, "ack")
    drain()
    assert Alert.objects.filter(state="open").count() == 2
    assert len(team_notices(cast, "alert.ack_unclear")) == 1


def test_lifecycle_resolve_needs_an_outcome_and_reopen_restarts_escalation(cast, frozen_clock):
    say(cast.anna, cast.team, "She fell")
    drain()
    alert = Alert.objects.get()
    now = frozen_clock.now()
    assert do_acknowledge(alert, cast.carol, now) is True
    assert do_acknowledge(alert, cast.carol, now) is False
    with pytest.raises(Invalid):
        do_resolve(alert, cast.carol, "  ", now)
    do_resolve(alert, cast.carol, "Checked, no injury; falls referral made", now)
    with pytest.raises(Conflict):
        do_resolve(alert, cast.carol, "again", now)
    alert = do_reopen(alert, cast.carol, "Fell again overnight", now + MIN)
    assert alert.state == "open"
    assert alert.reopened_count == 1
    kinds = [e.kind for e in AlertEvent.objects.filter(alert=alert)]
    assert kinds[:1] == ["opened"]
    assert {"acknowledged", "resolved", "reopened"} <= set(kinds)
    # The reopened alert notified the care manager again, as a new step.
    assert StepRun.objects.filter(alert=alert, step_type="notify_role").count() == 2


def test_telling_the_family_is_an_explicit_manager_choice(cast, frozen_clock):
    say(cast.debbie, cast.family, "Mum was on the floor when I rang")
    drain()
    alert = Alert.objects.get()
    assert not Message.objects.filter(room=cast.family, kind="system").exists()
    m = do_tell_family(
        alert, cast.carol, "Carol here: we're visiting Mum within the hour.", frozen_clock.now()
    )
    assert m.room_id == cast.family.id
    assert m.kind == "system"
    assert team_notices(cast, "alert.family_told")


def test_push_rows_are_created_per_active_device_and_recorded_by_the_outbox(cast, frozen_clock):
    now = frozen_clock.now()
    for i, active in enumerate((True, True, False)):
        PushDevice.objects.create(
            person=cast.carol,
            token=f"tok-{i}-xxxxxxxx",
            token_hash=f"h{i}",
            active=active,
            created_at=now,
        )
    say(cast.anna, cast.team, "She fell")
    drain()
    push = Notification.objects.filter(channel="push")
    assert push.count() == 2
    assert set(push.values_list("status", flat=True)) == {"recorded"}


def test_on_call_rota_is_used_in_quiet_hours(cast, frozen_clock):
    night = dt.datetime(2026, 3, 2, 23, 0, tzinfo=dt.UTC)
    frozen_clock.freeze(night)
    OnCallShift.objects.create(
        provider=cast.provider,
        person=cast.other_manager,
        role="primary",
        starts_at=night - 60 * MIN,
        ends_at=night + 600 * MIN,
    )
    say(cast.anna, cast.team, "She fell")
    drain()
    run = StepRun.objects.get(step_type="notify_role")
    assert (run.audience, run.recipients) == ("on_call", [cast.other_manager.id])
    assert Notification.objects.get().recipient_id == cast.other_manager.id


def test_removed_care_manager_is_no_longer_notified(cast, frozen_clock):
    from rooms.network import do_remove_member

    do_remove_member(cast.team, cast.carol, by=cast.carol)
    say(cast.anna, cast.team, "She fell")
    drain()
    assert not Notification.objects.filter(recipient=cast.carol).exists()
    assert Room.objects.get(pk=cast.team.pk)  # nobody assigned: the notice says so
    assert any("nobody to notify" in m.body for m in team_notices(cast, "alert.step"))
