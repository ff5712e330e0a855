"""Skipped and failing work is never silent (issue 11, finding 12; Done means 6).

``manage.py health`` reports consumer lag, skipped and failing entries and rows, and stuck
timers, and exits non-zero when any exists; the exceptions page shows the provider's care
managers what concerns their service users (never a message body), and only them.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command

from bots.models import PlannedVisit
from bots.runner import BotConsumer, BotTicker
from bots.schedule import PlannedVisitIn, do_create_planned_visit
from careplan.consumer import VisitRecordConsumer
from cocare_chat import clock
from escalation.detector import Detector
from escalation.message_push import MessagePush
from escalation.models import Alert
from rooms.messages import check_post_message
from rooms.models import AuditEvent, ConsumerFailure, WorkerFailure
from rooms.workers import drain, load_workers
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db

SECRET = "Peggy has bruises on her arms, BP 150/95"


def health(capsys, *args) -> tuple[int, str]:
    """Run the command; (exit status, what it printed)."""
    try:
        call_command("health", *args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().out


def consumers():
    return [BotConsumer(), Detector(), MessagePush(), VisitRecordConsumer()]


def _skip_in_detector(cast, monkeypatch) -> ConsumerFailure:
    """A message the detector cannot handle: recorded, retried, skipped (the real path)."""
    msg = check_post_message(person=cast.anna, room_id=cast.team.id, body=SECRET).message
    real = Detector.handle

    def handle(self, message, now):
        if message.id == msg.id:
            raise ValueError(message.body)  # exception text quoting the body
        return real(self, message, now)

    monkeypatch.setattr(Detector, "handle", handle)
    for _ in range(3):
        Detector().run_once(clock.now())
    drain(load_workers())
    return ConsumerFailure.objects.get(message=msg)


def test_health_is_clean_and_exits_zero_when_the_workers_are_caught_up(cast, frozen_clock, capsys):
    check_post_message(person=cast.anna, room_id=cast.team.id, body="All fine today")
    drain(load_workers())
    code, out = health(capsys)
    assert code == 0, out
    assert "health: healthy" in out
    code, out = health(capsys, "--json")
    report = json.loads(out)
    assert (code, report["ok"], report["problems"]) == (0, True, 0)
    assert {"rooms", "bots", "escalation", "bridge", "dashboards"} <= set(report["checks"])


def test_a_skipped_consumer_entry_makes_health_fail_without_its_body(
    cast, frozen_clock, capsys, monkeypatch
):
    failure = _skip_in_detector(cast, monkeypatch)
    assert failure.skipped
    code, out = health(capsys, "--json")
    assert code == 1
    [skipped] = [f for f in json.loads(out)["findings"] if f["check"] == "consumer.skipped"]
    assert skipped["subject"] == f"escalation.detect message {failure.message_id}"
    assert skipped["service_user"] == cast.peggy.id
    assert "bruises" not in out and "150/95" not in out
    code, out = health(capsys)
    assert code == 1 and "PROBLEM consumer.skipped" in out and "bruises" not in out


def test_a_lagging_cursor_makes_health_fail(cast, frozen_clock, capsys):
    drain(load_workers())
    check_post_message(person=cast.nadia, room_id=cast.team.id, body="Dressing changed")
    assert health(capsys)[0] == 0  # just written: within the lag threshold
    frozen_clock.advance(dt.timedelta(minutes=5))
    code, out = health(capsys, "--json")
    assert code == 1
    lagging = {
        f["subject"]
        for f in json.loads(out)["findings"]
        if f["check"] == "consumer.lag" and f["problem"]
    }
    assert lagging == {
        "bots",
        "escalation.detect",
        "escalation.message_push",
        "careplan.checkout",
    }
    drain(load_workers())
    assert health(capsys)[0] == 0


def test_a_stuck_escalation_step_makes_health_fail(cast, frozen_clock, capsys):
    drain(load_workers())
    check_post_message(
        person=cast.anna, room_id=cast.team.id, body="Peggy had a fall in the kitchen"
    )
    drain(consumers())  # the alert opens and notifies; the ticker that steps it is down
    alert = Alert.objects.get()
    assert alert.next_step_at is not None
    frozen_clock.freeze(alert.next_step_at + dt.timedelta(minutes=1))
    drain(consumers())
    assert health(capsys)[0] == 0  # due a minute ago: within the grace
    frozen_clock.advance(dt.timedelta(minutes=2))
    code, out = health(capsys, "--json")
    assert code == 1
    stuck = {f["subject"]: f for f in json.loads(out)["findings"] if f["check"] == "timer.overdue"}
    assert stuck["escalation.ticker alert steps"]["detail"].endswith(f": {alert.id}")
    drain(load_workers())  # the ticker catches up
    assert health(capsys)[0] == 0


def test_a_failing_check_is_reported_and_the_others_still_run(cast, frozen_clock, capsys, settings):
    drain(load_workers())
    settings.COCARE_HEALTH_CHECKS = {
        **settings.COCARE_HEALTH_CHECKS,
        "broken": "tests.test_health.broken_check",
    }
    code, out = health(capsys, "--json")
    report = json.loads(out)
    assert code == 1
    assert [f["check"] for f in report["findings"] if f["problem"]] == ["health.check_failed"]
    assert "rooms" in report["checks"]


def broken_check(now, thresholds):
    raise LookupError("a check that cannot run")


# ---- the exceptions page ---------------------------------------------------------------


def test_the_exceptions_page_shows_a_skipped_entry_to_the_right_manager_only(
    cast, frozen_clock, capsys, monkeypatch
):
    failure = _skip_in_detector(cast, monkeypatch)
    carol, oscar = client_for(cast.carol), client_for(cast.other_manager)
    page = carol.get("/exceptions/").content.decode()
    assert f'data-kind="entry" data-id="{failure.id}"' in page
    assert f"message #{failure.message.seq}" in page and "Peggy" in page
    assert "bruises" not in page and "150/95" not in page
    other = oscar.get("/exceptions/").content.decode()
    assert f'data-id="{failure.id}"' not in other and "Peggy" not in other
    # Another provider's manager cannot review it: the same 404 as for a missing one.
    url = f"/exceptions/entry/{failure.id}/reviewed"
    assert oscar.post(url).status_code == 404
    assert oscar.post("/exceptions/entry/999999/reviewed").status_code == 404
    assert client_for(cast.anna).post(url).status_code == 404
    assert health(capsys)[0] == 1
    assert carol.post(url).status_code == 302
    failure.refresh_from_db()
    assert failure.reviewed_by_id == cast.carol.id
    assert (
        AuditEvent.objects.filter(
            actor=cast.carol, action="failure.reviewed", target=f"consumer_failure:{failure.id}"
        ).count()
        == 1
    )
    assert "Reviewed by Carol Evans" in carol.get("/exceptions/").content.decode()
    assert health(capsys)[0] == 0  # reviewed: no longer a problem


def test_the_exceptions_page_shows_a_skipped_planned_visit_and_an_overdue_missed_check(
    cast, frozen_clock, capsys
):
    pv = do_create_planned_visit(
        cast.peggy,
        PlannedVisitIn(
            worker_id=cast.anna.id,
            window_start=clock.now(),
            window_end=clock.now() + dt.timedelta(minutes=30),
        ),
        now=clock.now(),
    )
    y1 = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    PlannedVisit.objects.filter(pk=pv.pk).update(
        window_start=y1, window_end=y1 + dt.timedelta(minutes=30), missed_check_at=y1
    )
    for _ in range(3):
        BotTicker().run_once(clock.now())
    row = WorkerFailure.objects.get(ref_id=pv.pk)
    assert row.skipped
    page = client_for(cast.carol).get("/exceptions/").content.decode()
    assert f'data-kind="row" data-id="{row.id}"' in page
    assert f"planned visit #{pv.pk}" in page
    assert (
        f'data-id="{row.id}"'
        not in client_for(cast.other_manager).get("/exceptions/").content.decode()
    )
    code, out = health(capsys)
    assert code == 1 and "worker.skipped" in out
