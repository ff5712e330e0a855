"""The visit-record pages: the printable MAR chart and the CSV downloads."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from careplan import actions
from careplan.medicines import DoseRecordIn
from careplan.models import Medicine
from rooms.models import AuditEvent
from tests.careplan.helpers import MADOPAR, MIN, add_medicine, build_world, client_for, visit
from tests.support.cast import T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast, frozen_clock):
    w = build_world(cast)
    add_medicine(cast.peggy, cast.nadia, MADOPAR, now=T0 - dt.timedelta(days=1))
    v = visit(cast.peggy, cast.anna, T0, None)
    med = Medicine.objects.get()
    actions.check_record_dose(
        cast.anna,
        v.id,
        med.id,
        DoseRecordIn(outcome="refused"),
        client_id="mar-1",
        now=T0 + 5 * MIN,
        scheduled_for=T0,
    )
    return w


def test_the_mar_page_shows_the_month_with_the_refusal_and_is_audited(cast, world):
    r = client_for(cast.carol).get(f"/careplan/people/{cast.peggy.id}/mar/?month=2026-03")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Co-beneldopa 62.5 mg" in html and "March 2026" in html
    assert 'class="mar-cell code-r">R</td>' in html
    assert "time-critical" in html and "window.print()" in html
    assert AuditEvent.objects.filter(
        actor=cast.carol, action="mar.read", target="mar:2026-03"
    ).exists()
    # The current month by default (the frozen clock is in March 2026).
    assert (
        "March 2026"
        in client_for(cast.nadia).get(f"/careplan/people/{cast.peggy.id}/mar/").content.decode()
    )


@pytest.mark.parametrize(
    "name", ["debbie", "margaret", "colin", "other_manager", "outsider_worker"]
)
def test_the_mar_page_is_not_found_for_anyone_outside_the_care_team(cast, world, name):
    r = client_for(getattr(cast, name)).get(f"/careplan/people/{cast.peggy.id}/mar/")
    assert r.status_code == 404
    assert "beneldopa" not in r.content.decode()


@pytest.mark.parametrize(
    "query", ["?month=2026-13", "?month=1999-01", "?month=x", "?month=2026-03&x=1"]
)
def test_a_bad_month_is_a_400(cast, world, query):
    r = client_for(cast.carol).get(f"/careplan/people/{cast.peggy.id}/mar/{query}")
    assert r.status_code == 400


def test_a_huge_id_is_just_not_found(cast, world):
    r = client_for(cast.carol).get(f"/careplan/people/{2**70}/mar/")
    assert r.status_code == 404


def test_the_downloads_page_offers_what_the_person_may_download(cast, world):
    html = client_for(cast.carol).get("/careplan/downloads/").content.decode()
    assert "Anna Kowalski" in html and "Ben Carter" in html and "Ella Morris" not in html
    assert "Northshire Council" in html and "Westshire Council" in html
    anna = client_for(cast.anna).get("/careplan/downloads/").content.decode()
    assert "Anna Kowalski" in anna and "Ben Carter" not in anna and "Council:" not in anna
    assert client_for(cast.debbie).get("/careplan/downloads/").status_code == 404


def test_the_csv_downloads_open_as_written(cast, world):
    c = client_for(cast.carol)
    r = c.get(
        f"/careplan/downloads/payroll.csv?worker={cast.anna.id}&start=2026-03-01&end=2026-03-31"
    )
    assert r.status_code == 200 and r["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert [row["date"] for row in rows] == ["2026-03-02", "TOTAL"]
    assert rows[1]["open"] == "1"
    r = c.get(
        f"/careplan/downloads/council.csv?council={world.westshire.id}"
        "&start=2026-03-01&end=2026-03-31"
    )
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert [row["name"] for row in rows] == ["Raymond Booth", ""]
    assert (
        c.get(
            f"/careplan/downloads/council.csv?council={world.westshire.id}"
            "&start=2026-03-31&end=2026-03-01"
        ).status_code
        == 400
    )
    assert (
        client_for(cast.other_manager)
        .get(
            f"/careplan/downloads/council.csv?council={world.westshire.id}"
            "&start=2026-03-01&end=2026-03-31"
        )
        .status_code
        == 404
    )
