"""One bad row never stops a worker for everyone (issue 11, finding 2; rooms/isolation.py).

A planned visit with a year-1 window, written before the boundary rule existed (the API
refuses it now), used to fail every tick of the bots ticker: missed-visit flags stopped
for every provider. Each timer loop now handles its rows in isolation: the bad row is
recorded (type only), retried a bounded number of times, then skipped, and the rows
behind it keep flowing. Runs on SQLite and, in the services phase, on PostgreSQL, where a
year-1 instant with a +14:00 offset is stored as 1 BC and cannot be read back at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.db import connection

from bots.models import BotFlag, PlannedVisit
from bots.runner import BotTicker, Poster
from bots.schedule import PlannedVisitIn, do_create_planned_visit
from cocare_chat import clock
from escalation.models import Alert, Notification
from escalation.policy import default_policy
from escalation.push_sender import PushSender
from escalation.ticker import Ticker
from rooms.isolation import RUN
from rooms.models import Message, Person, PushDevice, Role, Room, WorkerFailure
from rooms.network import do_add_member, do_create_service_user
from rooms.workers import drain
from tests.support.cast import T0
from web.dashboards import rollup
from web.dashboards.models import DayTotals, RollupMark
from web.dashboards.rollup import RollupWorker

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


def _other_provider_visit(cast, start: dt.datetime) -> PlannedVisit:
    """A planned visit for a service user of the *other* provider, with its own worker."""
    su = do_create_service_user(
        full_name="Harold Booth", provider=cast.other_provider, council=cast.council, now=T0
    )
    worker = Person.objects.create(
        display_name="Wendy Other", role=Role.CARE_WORKER, organisation=cast.other_provider
    )
    do_add_member(
        Room.objects.get(service_user=su, kind="professional"), worker, now=T0, notify=False
    )
    return do_create_planned_visit(
        su,
        PlannedVisitIn(
            worker_id=worker.id, window_start=start, window_end=start + dt.timedelta(minutes=30)
        ),
        now=T0,
    )


def _poison_visit(cast, how: str) -> PlannedVisit:
    """Peggy's visit, rewritten in the database to a year-1 window (bypassing the API)."""
    pv = do_create_planned_visit(
        cast.peggy,
        PlannedVisitIn(
            worker_id=cast.anna.id,
            window_start=T0 - 3 * HOUR,
            window_end=T0 - 3 * HOUR + dt.timedelta(minutes=30),
        ),
        now=T0,
    )
    if how == "readable":  # year 1 in UTC: readable, but breaks local-time formatting
        y1 = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
        PlannedVisit.objects.filter(pk=pv.pk).update(
            window_start=y1, window_end=y1 + dt.timedelta(minutes=30), missed_check_at=y1 + HOUR
        )
        return pv
    # "0001-01-01T00:00:00+14:00" as the API once stored it: 1 BC in UTC, unreadable.
    if connection.vendor == "postgresql":
        values = [
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:30:00+14:00",
            "0001-01-01T01:00:00+14:00",
        ]
    else:  # Django keeps UTC text on SQLite; year 0 is what that instant is in UTC
        values = ["0000-12-31 10:00:00", "0000-12-31 10:30:00", "0000-12-31 11:00:00"]
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE bots_plannedvisit SET window_start = %s, window_end = %s, "
            "missed_check_at = %s WHERE id = %s",
            [*values, pv.pk],
        )
    return pv


def _missed_flags(pv: PlannedVisit) -> int:
    return BotFlag.objects.filter(planned_visit_id=pv.pk, kind="missed_visit").count()


@pytest.mark.parametrize("how", ["unreadable", "readable"])
def test_a_year_one_planned_visit_does_not_stop_missed_visit_flags_for_other_providers(
    cast, frozen_clock, how, caplog
):
    good = _other_provider_visit(cast, T0)  # due at T0 + 1 h (window end + 30 min grace)
    bad = _poison_visit(cast, how)
    frozen_clock.advance(HOUR + dt.timedelta(minutes=1))

    caplog.set_level(logging.WARNING)
    ticker = BotTicker()
    assert ticker.run_once(clock.now()) == 1
    assert _missed_flags(good) == 1  # the other provider's missed visit is flagged
    failure = WorkerFailure.objects.get(worker="bots.ticker", ref_model="bots.plannedvisit")
    assert (failure.ref_id, failure.service_user_id, failure.attempts, failure.skipped) == (
        bad.pk,
        cast.peggy.id,
        1,
        False,
    )
    assert re.fullmatch(r"[A-Za-z]+", failure.error)  # the exception type, nothing else
    assert "Traceback" not in caplog.text

    # Retried on the next ticks, then skipped: it no longer heads the queue.
    ticker.run_once(clock.now())
    ticker.run_once(clock.now())
    failure.refresh_from_db()
    assert (failure.attempts, failure.skipped) == (3, True)
    later = do_create_planned_visit(
        good.service_user,
        PlannedVisitIn(
            worker_id=good.worker_id,
            window_start=T0 + HOUR,
            window_end=T0 + HOUR + dt.timedelta(minutes=30),
        ),
        now=T0,
    )
    frozen_clock.advance(2 * HOUR)
    assert drain([BotTicker()]) == 1
    assert _missed_flags(later) == 1
    failure.refresh_from_db()
    assert failure.attempts == 3  # skipped rows are not claimed again
    assert not WorkerFailure.objects.filter(ref_model=RUN).exists()  # the run never failed


def test_a_failing_row_that_later_succeeds_is_resolved(cast, frozen_clock, monkeypatch):
    pv = _other_provider_visit(cast, T0)
    frozen_clock.advance(HOUR + dt.timedelta(minutes=1))
    real = Poster.flag
    calls = {"n": 0}

    def flaky(self, client_id, flag):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("transient")
        return real(self, client_id, flag)

    monkeypatch.setattr(Poster, "flag", flaky)
    assert BotTicker().run_once(clock.now()) == 0
    assert _missed_flags(pv) == 0  # the failed attempt's writes were rolled back
    assert BotTicker().run_once(clock.now()) == 1
    assert _missed_flags(pv) == 1
    f = WorkerFailure.objects.get(ref_id=pv.pk)
    assert (f.attempts, f.skipped, f.error, f.resolved_at) == (
        1,
        False,
        "ConnectionError",
        clock.now(),
    )


def test_the_dashboards_rollup_ignores_a_year_one_row_and_records_its_own_failures(
    cast, frozen_clock, monkeypatch
):
    _other_provider_visit(cast, T0)
    _poison_visit(cast, "unreadable")
    frozen_clock.advance(dt.timedelta(days=3))
    worker = RollupWorker()
    assert worker.run_once(clock.now()) == 1
    mark = RollupMark.objects.get()
    assert mark.since_day >= dt.date(2000, 1, 1)
    assert DayTotals.objects.filter(day=T0.date()).exists()
    assert not WorkerFailure.objects.exists()
    # A refresh that raises is recorded (type only) and retried a refresh period later,
    # not on every poll.
    calls = {"n": 0}

    def broken(now, days=rollup.RECENT_DAYS):
        calls["n"] += 1
        raise ArithmeticError("boom")

    monkeypatch.setattr(rollup, "refresh_recent", broken)
    frozen_clock.advance(rollup.REFRESH_EVERY)
    assert worker.run_once(clock.now()) == 0
    assert worker.run_once(clock.now() + dt.timedelta(seconds=2)) == 0
    assert calls["n"] == 1
    f = WorkerFailure.objects.get(worker="dashboards.rollup")
    assert (f.error, f.skipped, f.resolved_at) == ("ArithmeticError", False, None)


class FlakyHomeserver:
    """A homeserver stand-in: sends into ``poisoned`` rooms raise an unexpected error."""

    def __init__(self, poisoned: set[str]):
        self.poisoned = poisoned
        self.sent: list[str] = []

    def create_room(self, *, alias_localpart, name, invite, power_users):
        return f"!{alias_localpart}:cocare.test"

    def register_puppet(self, localpart):
        pass

    def set_display_name(self, user_id, name):
        pass

    def invite(self, room_id, user_id):
        pass

    def join(self, room_id, user_id):
        pass

    def recent_events(self, room_id, limit=100, start=None):
        return [], None

    def send(self, room_id, event_type, content, txn_id, as_user=None):
        if room_id in self.poisoned:
            raise KeyError("unexpected")
        self.sent.append(txn_id)
        return f"$ev-{txn_id}"


def test_a_bridge_entry_that_raises_is_skipped_and_other_rooms_keep_flowing(cast, frozen_clock):
    from bridge.models import OutboxEntry
    from bridge.outbound import OutboxConsumer
    from bridge.sender import MatrixSender
    from rooms.messages import check_post_message
    from tests.bridge.conftest import make_config

    cfg = make_config()
    team_mx = f"!{cfg.room_alias_localpart(cast.team.id)}:cocare.test"
    for room in (cast.team, cast.family):
        check_post_message(person=cast.anna, room_id=room.id, body="hello", now=clock.now())
    OutboxConsumer().run_once(clock.now())
    server = FlakyHomeserver({team_mx})
    sender = MatrixSender(cfg, client=server)
    for _ in range(3):
        sender.run_once(clock.now())
    family = OutboxEntry.objects.get(room=cast.family)
    team = OutboxEntry.objects.get(room=cast.team)
    assert family.status == "sent"  # the family room was not held up by the team room
    assert team.status == "failed"  # skipped after three attempts, recorded
    f = WorkerFailure.objects.get(worker="bridge.sender")
    assert (f.ref_model, f.ref_id, f.skipped, f.error) == (
        "bridge.outboxentry",
        team.pk,
        True,
        "KeyError",
    )


def _open_alert(su, policy: dict, due: dt.datetime) -> Alert:
    return Alert.objects.create(
        service_user=su,
        concern="falls",
        severity="high",
        opened_at=due,
        policy=policy,
        next_step_at=due,
    )


def test_an_alert_whose_steps_raise_does_not_stop_other_alerts_escalating(cast, frozen_clock):
    other = _other_provider_visit(cast, T0).service_user
    now = clock.now()
    # A snapshot that no longer parses heads the queue (earliest next_step_at).
    broken = _open_alert(cast.peggy, {"steps": "not a list"}, now - dt.timedelta(minutes=5))
    healthy = _open_alert(other, default_policy().model_dump(mode="json"), now)
    assert Ticker().run_once(clock.now()) >= 1
    healthy.refresh_from_db()
    assert healthy.step_seq >= 1  # escalated although the alert before it raised
    f = WorkerFailure.objects.get(worker="escalation.ticker")
    assert (f.ref_model, f.ref_id, f.service_user_id, f.skipped) == (
        "escalation.alert",
        broken.pk,
        cast.peggy.id,
        False,
    )
    Ticker().run_once(clock.now())
    Ticker().run_once(clock.now())
    f.refresh_from_db()
    assert (f.attempts, f.skipped) == (3, True)


def test_a_push_that_raises_is_recorded_retried_and_failed_while_others_are_sent(
    cast, frozen_clock, monkeypatch
):
    from escalation import push

    now = clock.now()
    alert = Alert.objects.create(
        service_user=cast.peggy,
        concern="falls",
        severity="high",
        opened_at=now,
        policy={},
        next_step_at=None,
    )
    devices = [
        PushDevice.objects.create(
            person=cast.carol, token=f"token-{i}-xxxxxxxx", token_hash=f"h{i}", created_at=now
        )
        for i in range(2)
    ]
    rows = [
        Notification.objects.create(
            alert=alert,
            step_seq=1,
            recipient=cast.carol,
            device=d,
            channel="push",
            status="pending",
            next_attempt_at=now,
            created_at=now,
        )
        for d in devices
    ]
    real = push.send

    def send(token, nid, *args, **kwargs):
        if nid == rows[0].pk:
            raise KeyError("bad row")
        return real(token, nid, *args, **kwargs)

    monkeypatch.setattr(push, "send", send)
    for _ in range(3):
        PushSender().run_once(clock.now())
        frozen_clock.advance(dt.timedelta(minutes=3))  # past the claim's lease
    bad, good = (Notification.objects.get(pk=r.pk) for r in rows)
    assert good.status in ("recorded", "sent")
    assert bad.status == "failed"
    f = WorkerFailure.objects.get(worker="escalation.push")
    assert (f.ref_id, f.attempts, f.skipped, f.error) == (bad.pk, 3, True, "KeyError")


def test_a_worker_whose_whole_run_raises_is_recorded_and_resolved_by_the_next_run(
    cast, frozen_clock, caplog
):
    class Broken:
        name = "test.broken"
        fail = True

        def run_once(self, now):
            if self.fail:
                raise RuntimeError("Peggy fell, BP 150/95")  # text must never be logged
            return 0

    w = Broken()
    caplog.set_level(logging.INFO)
    drain([w])
    f = WorkerFailure.objects.get(worker="test.broken", ref_model=RUN)
    assert (f.error, f.resolved_at) == ("RuntimeError", None)
    assert "Peggy fell" not in caplog.text and "Traceback" not in caplog.text
    w.fail = False
    drain([w])
    f.refresh_from_db()
    assert f.resolved_at == clock.now()
    assert Message.objects.filter(body__contains="Peggy fell").count() == 0
