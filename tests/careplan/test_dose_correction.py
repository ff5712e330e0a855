"""A care manager corrects a recorded dose: a new record supersedes it (never an edit),
with who, when and why; audited; the MAR chart shows the current outcome marked ``*``
and lists the correction. Nobody else can, and odd input writes nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from careplan.models import MedicineRecord
from rooms.models import AuditEvent, Message
from tests.careplan.helpers import (
    MADOPAR,
    MIN,
    PARACETAMOL,
    add_medicine,
    cid,
    client_for,
    post,
    visit,
)
from tests.support.cast import T0

pytestmark = pytest.mark.django_db
API = "/api/careplan"
NOT_FOUND = {"error": "not_found", "message": "Not found."}


@pytest.fixture
def refused(cast, frozen_clock):
    """Anna's 09:00 visit: the time-critical 09:00 dose recorded as refused."""
    med = add_medicine(cast.peggy, cast.nadia, MADOPAR, now=T0 - dt.timedelta(days=3))
    v = visit(cast.peggy, cast.anna, T0 - 5 * MIN, None)
    frozen_clock.advance(dt.timedelta(minutes=5))
    r = post(
        client_for(cast.anna),
        f"{API}/visits/{v.id}/doses",
        {
            "client_id": cid(),
            "medicine": med.id,
            "scheduled_for": T0.isoformat(),
            "outcome": "refused",
        },
    )
    assert r.status_code == 201, r.content
    return MedicineRecord.objects.get(pk=r.json()["id"])


def correct(person, record_id, **body):
    body = {"client_id": cid(), "outcome": "given", "why": "Entered on the wrong dose", **body}
    return post(client_for(person), f"{API}/doses/{record_id}/correction", body)


def mar(person, su_id):
    r = client_for(person).get(f"{API}/service-users/{su_id}/mar?month=2026-03")
    assert r.status_code == 200, r.content
    return r.json()


def test_a_managers_correction_supersedes_the_record_and_the_mar_shows_who_when_why(
    cast, refused, frozen_clock
):
    before = mar(cast.carol, cast.peggy.id)
    [row] = [r for r in before["rows"] if r["time"] == "09:00"]
    assert row["cells"][1] == "R"  # 2 March

    frozen_clock.advance(dt.timedelta(hours=2))
    body = {"client_id": cid(), "outcome": "given", "why": "Daughter saw it taken at 09:10"}
    r = post(client_for(cast.carol), f"{API}/doses/{refused.id}/correction", body)
    assert r.status_code == 201, r.content
    new = r.json()
    assert (new["outcome"], new["corrects"], new["recorded_by"]) == (
        "given",
        refused.id,
        cast.carol.id,
    )
    assert new["correction_reason"] == "Daughter saw it taken at 09:10"
    # The old record is kept, superseded, unchanged.
    old = MedicineRecord.objects.get(pk=refused.id)
    assert (old.outcome, old.recorded_by_id) == ("refused", cast.anna.id)
    assert old.superseded_at == frozen_clock.now()
    # A retry of the same request answers the same correction.
    again = post(client_for(cast.carol), f"{API}/doses/{refused.id}/correction", body)
    assert (again.status_code, again.json()["id"]) == (200, new["id"])

    after = mar(cast.carol, cast.peggy.id)
    [row] = [r for r in after["rows"] if r["time"] == "09:00"]
    assert row["cells"][1] == "G*"
    [c] = after["corrections"]
    assert (c["was"], c["now"], c["by"], c["why"], c["time"], c["day"]) == (
        "refused",
        "given",
        cast.carol.display_name,
        "Daughter saw it taken at 09:10",
        "09:00",
        "2026-03-02",
    )
    assert c["at"] == frozen_clock.now().isoformat()
    audit = AuditEvent.objects.get(action="medicine.correct")
    assert (audit.actor_id, audit.target) == (
        cast.carol.id,
        f"medicine_record:{old.id}->{new['id']}",
    )
    # Another reader of the record (the team's nurse) sees the same chart.
    assert mar(cast.nadia, cast.peggy.id)["corrections"] == after["corrections"]


def test_the_superseded_record_cannot_be_corrected_again_and_a_same_outcome_is_refused(
    cast, refused
):
    assert correct(cast.carol, refused.id).status_code == 201
    r = correct(cast.carol, refused.id, outcome="not_given", reason="asleep")
    assert r.status_code == 409 and "already corrected" in r.json()["message"]
    newest = MedicineRecord.objects.get(corrects=refused)
    r = correct(cast.carol, newest.id)  # given -> given: nothing to correct
    assert r.status_code == 422
    assert MedicineRecord.objects.count() == 2


def test_a_correction_to_refused_of_a_time_critical_dose_raises_its_own_flag(cast, refused):
    r = correct(cast.carol, refused.id)
    given = MedicineRecord.objects.get(pk=r.json()["id"])
    r = correct(
        cast.carol, given.id, outcome="missed", reason="late_visit", why="Not given after all"
    )
    assert r.status_code == 201
    newest = MedicineRecord.objects.get(pk=r.json()["id"])
    flag = Message.objects.get(pk=newest.flag_message_id)
    assert flag.client_id == f"cp:dose:{newest.id}"
    assert "Co-beneldopa" not in json.dumps(flag.payload)  # never a medicine name


@pytest.mark.parametrize(
    "who", ["anna", "nadia", "other_manager", "colin", "debbie", "margaret", "outsider_worker"]
)
def test_only_the_providers_care_manager_corrects_everyone_else_gets_the_same_404(
    cast, refused, who
):
    r = correct(getattr(cast, who), refused.id)
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    r = correct(cast.carol, 2**62)  # no such record: the same answer
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    assert MedicineRecord.objects.count() == 1
    assert not AuditEvent.objects.filter(action="medicine.correct").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"why": ""},
        {"why": "x" * 201},
        {"why": "a\x00b"},
        {"outcome": "vanished"},
        {"outcome": "not_given"},  # needs a reason
        {"extra": 1},
        {"client_id": 5},
    ],
)
def test_odd_correction_bodies_are_a_422_and_write_nothing(cast, refused, body):
    r = correct(cast.carol, refused.id, **body)
    assert r.status_code == 422, r.content
    assert MedicineRecord.objects.count() == 1
    assert MedicineRecord.objects.get().superseded_at is None


def test_an_as_needed_dose_corrected_to_given_still_respects_the_24_hour_maximum(
    cast, frozen_clock
):
    med = add_medicine(cast.peggy, cast.nadia, PARACETAMOL, now=T0 - dt.timedelta(days=3))
    anna = client_for(cast.anna)
    ids = []
    for i in range(5):  # 4 given (the maximum) 4 h apart, then one refused
        v = visit(cast.peggy, cast.anna, frozen_clock.now(), None)
        outcome = "given" if i < 4 else "refused"
        body = {"client_id": cid(), "medicine": med.id, "outcome": outcome}
        if outcome == "given":
            body["prn_reason"] = "Knee pain"
        r = post(anna, f"{API}/visits/{v.id}/doses", body)
        assert r.status_code == 201, r.content
        ids.append(r.json()["id"])
        frozen_clock.advance(dt.timedelta(hours=4, minutes=1))
    r = correct(cast.carol, ids[-1])
    assert r.status_code == 409 and "At most 4 doses in 24 hours" in r.json()["message"]
    assert not MedicineRecord.objects.filter(corrects__isnull=False).exists()


def test_the_mar_page_lets_the_manager_correct_and_lists_the_correction(cast, refused):
    page = client_for(cast.carol).get(f"/careplan/people/{cast.peggy.id}/mar/?month=2026-03")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Correct a recorded dose" in html and "No corrections this month." in html
    url = f"/careplan/people/{cast.peggy.id}/mar/records/{refused.id}/correct"
    form = {
        "client_id": "a" * 32,
        "month": "2026-03",
        "outcome": "not_given",
        "reason": "asleep",
        "note": "",
        "why": "Recorded as refused by mistake",
    }
    r = client_for(cast.carol).post(url, form)
    assert r.status_code == 302 and r["Location"].endswith("?month=2026-03#corrections")
    assert client_for(cast.carol).post(url, form).status_code == 302  # resubmitted: once
    assert MedicineRecord.objects.filter(corrects=refused).count() == 1
    html = client_for(cast.carol).get(r["Location"]).content.decode()
    assert "Recorded as refused by mistake" in html and "Not given (Asleep)" in html
    # The nurse reads the chart (and the correction) but gets no form; a worker's post is 404.
    nurse = client_for(cast.nadia).get(f"/careplan/people/{cast.peggy.id}/mar/?month=2026-03")
    assert "Recorded as refused by mistake" in nurse.content.decode()
    assert "Correct a recorded dose" not in nurse.content.decode()
    assert client_for(cast.anna).post(url, {**form, "client_id": "b" * 32}).status_code == 404
