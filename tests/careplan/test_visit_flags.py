"""A visit end to end on the database: the real bot check-in/out, outcomes over the API,
flags through the real escalation consumers, the family summary from the careplan
consumer — and replays of both consumers change nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from bots.models import Visit
from careplan.consumer import VisitRecordConsumer
from escalation.detector import Detector
from escalation.models import Alert, AlertEvent, Flag, Notification
from rooms.models import Message
from tests.bots.helpers import HOME
from tests.bots.helpers import run as run_bots
from tests.bots.helpers import say as say_bot
from tests.careplan.helpers import (
    MADOPAR,
    PARACETAMOL,
    add_medicine,
    cid,
    client_for,
    post,
    save_plan,
)
from tests.escalation.helpers import drain
from tests.support.cast import T0

pytestmark = pytest.mark.django_db
API = "/api/careplan"


@pytest.fixture
def peggy(cast):
    save_plan(cast.peggy, cast.carol)
    add_medicine(cast.peggy, cast.nadia, MADOPAR, now=T0 - dt.timedelta(days=3))
    add_medicine(cast.peggy, cast.nadia, PARACETAMOL, now=T0 - dt.timedelta(days=3))
    return cast.peggy


def check_in(cast) -> Visit:
    say_bot(cast.anna, cast.team, "Check in", location=HOME)
    run_bots()
    return Visit.objects.get(worker=cast.anna, checked_out_at__isnull=True)


def check_out(cast, clock, minutes=30) -> None:
    clock.advance(dt.timedelta(minutes=minutes))
    say_bot(cast.anna, cast.team, "check out", location=HOME)
    run_bots()


def snapshot():
    return (
        Flag.objects.count(),
        Alert.objects.count(),
        Notification.objects.count(),
        AlertEvent.objects.count(),
        Message.objects.count(),
    )


def test_a_refused_time_critical_dose_raises_one_high_alert_for_the_manager(
    cast, peggy, frozen_clock
):
    v = check_in(cast)
    anna = client_for(cast.anna)
    record = anna.get(f"{API}/visits/{v.id}/record").json()
    [due] = record["doses_due"]
    assert (due["time"], due["time_critical"]) == ("09:00", True)
    body = {
        "client_id": cid(),
        "medicine": due["medicine"],
        "scheduled_for": due["scheduled_for"],
        "outcome": "refused",
        "note": "Said she would take it later",
    }
    assert post(anna, f"{API}/visits/{v.id}/doses", body).status_code == 201
    assert post(anna, f"{API}/visits/{v.id}/doses", body).status_code == 200  # a retry
    drain()
    alert = Alert.objects.get()
    assert (alert.concern, alert.severity, alert.state) == ("medication", "high", "open")
    [flag] = Flag.objects.all()
    assert flag.source == "careplan.medicine" and "09:00" in flag.reason
    assert Notification.objects.filter(alert=alert, recipient=cast.carol).exists()
    # The team room says so in generic words; nothing anywhere names the medicine.
    assert Message.objects.filter(
        room=cast.team, kind="system", body__startswith=f"Alert #{alert.id} opened"
    ).exists()
    assert not Message.objects.filter(body__icontains="beneldopa").exists()
    assert not Message.objects.filter(payload__icontains="beneldopa").exists()
    # The MAR chart shows the refusal on 2 March at 09:00.
    mar = client_for(cast.carol).get(f"{API}/service-users/{peggy.id}/mar?month=2026-03").json()
    row = next(r for r in mar["rows"] if r["time"] == "09:00")
    assert row["cells"][1] == "R"

    before = snapshot()
    Detector().reset()
    drain()
    assert snapshot() == before
    # At check-out the refused dose counts as recorded: no "not recorded" flag.
    check_out(cast, frozen_clock)
    drain(VisitRecordConsumer())
    drain()
    assert Flag.objects.count() == 1


def test_an_essential_task_not_done_raises_an_alert_and_the_family_gets_a_safe_summary(
    cast, peggy, frozen_clock
):
    v = check_in(cast)
    anna = client_for(cast.anna)
    record = anna.get(f"{API}/visits/{v.id}/record").json()
    tasks = {t["key"]: t["id"] for t in record["tasks"]}
    assert record["title"] == "Morning"
    ticks = [
        ("personal-care", True, None),
        ("breakfast", True, None),
        ("catheter", False, "unable"),
    ]
    for key, done, reason in ticks:
        r = post(
            anna,
            f"{API}/visits/{v.id}/tasks",
            {"client_id": cid(), "task": tasks[key], "done": done, "reason": reason},
        )
        assert r.status_code == 201, r.content
    due = record["doses_due"][0]
    post(
        anna,
        f"{API}/visits/{v.id}/doses",
        {
            "client_id": cid(),
            "medicine": due["medicine"],
            "scheduled_for": due["scheduled_for"],
            "outcome": "given",
        },
    )
    check_out(cast, frozen_clock)
    drain(VisitRecordConsumer())
    drain()
    alert = Alert.objects.get()
    assert (alert.concern, alert.severity) == ("care_task", "high")
    summaries = Message.objects.filter(room=cast.family, payload__event="visit.summary")
    [summary] = summaries
    assert summary.body == "Morning visit: personal care and breakfast done."
    family_text = " ".join(Message.objects.filter(room=cast.family).values_list("body", flat=True))
    for secret in ("atheter", "unable", "beneldopa", "Paracetamol", "heels"):
        assert secret not in family_text
    before = snapshot()
    VisitRecordConsumer().reset()
    Detector().reset()
    drain(VisitRecordConsumer())
    drain()
    assert snapshot() == before


def test_a_time_critical_dose_left_unrecorded_at_check_out_raises_an_alert_once(
    cast, peggy, frozen_clock
):
    check_in(cast)
    check_out(cast, frozen_clock, minutes=20)
    drain(VisitRecordConsumer())
    drain()
    alert = Alert.objects.get()
    assert (alert.concern, alert.severity) == ("medication", "high")
    assert "not recorded by check-out: the 09:00 dose" in Flag.objects.get().reason
    before = snapshot()
    VisitRecordConsumer().reset()
    drain(VisitRecordConsumer())
    Detector().reset()
    drain()
    assert snapshot() == before


def test_as_needed_doses_are_refused_past_the_minimum_interval(cast, peggy, frozen_clock):
    v = check_in(cast)
    anna = client_for(cast.anna)
    prn = client_for(cast.carol).get(f"{API}/visits/{v.id}/record").json()["as_needed"][0]
    first = {
        "client_id": cid(),
        "medicine": prn["medicine"],
        "outcome": "given",
        "prn_reason": "Knee pain",
    }
    assert post(anna, f"{API}/visits/{v.id}/doses", first).status_code == 201
    assert post(anna, f"{API}/visits/{v.id}/doses", first).status_code == 200  # retry
    frozen_clock.advance(dt.timedelta(minutes=20))
    again = post(anna, f"{API}/visits/{v.id}/doses", {**first, "client_id": cid()})
    assert again.status_code == 409
    assert again.json()["message"] == (
        "Not allowed now: At least 240 minutes between doses. Next possible at 13:00."
    )


@pytest.mark.parametrize("field", ["scheduled_for", "given_at"])
def test_a_dose_time_without_a_time_zone_is_a_clear_422(cast, peggy, frozen_clock, field):
    v = check_in(cast)
    record = client_for(cast.carol).get(f"{API}/visits/{v.id}/record").json()
    med = record["doses_due"][0] if field == "scheduled_for" else record["as_needed"][0]
    r = post(
        client_for(cast.anna),
        f"{API}/visits/{v.id}/doses",
        {
            "client_id": cid(),
            "medicine": med["medicine"],
            "outcome": "given",
            field: "2026-03-02T09:00:00",
        },
    )
    assert r.status_code == 422 and "time zone" in r.json()["message"]
