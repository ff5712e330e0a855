"""Done means 5: the council export's delivered hours are the dashboards' delivered hours.

A period seeded with the odd cases of the hours rules (on time within tolerance, cut
short, over-run, a two-carer visit, a missing check-out, an unplanned visit), then:
the provider's council export (downloaded, read back with the csv module) per person and
in total equals the service-user dashboard's CSV and the council dashboard's CSV for the
same days — read live, then from the daily rollups, then again after the missing
check-out is filled in. The payroll export pays each carer of the two-carer visit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from bots.models import Visit
from careplan import delivered, hours
from careplan.models import VisitMinutes
from careplan.store import visit_facts
from cocare_chat import clock
from tests.careplan.helpers import MIN, build_world, client_for, planned, visit
from tests.support.cast import T0
from web.dashboards import rollup

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
# 30 March (BST): the dashboards' "4w" window starts at local midnight on 2 March, so
# the export period 2026-03-02..2026-03-30 covers exactly the same days.
NOW = dt.datetime(2026, 3, 30, 11, 0, tzinfo=dt.UTC)
PERIOD = "start=2026-03-02&end=2026-03-30"


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


@pytest.fixture
def seeded(cast):
    clock.freeze(NOW)
    w = build_world(cast)
    anna, ben = cast.anna, w.ben
    su = cast.peggy
    # Mon 09:00, planned 30: 27 minutes, within the 5-minute tolerance -> 30 delivered.
    visit(su, anna, T0, 27, plan=planned(su, anna, T0, 30))
    # Mon 10:00, planned 45: cut short at 20 -> 20 delivered, 20 paid.
    visit(su, anna, T0 + 60 * MIN, 20, plan=planned(su, anna, T0 + 60 * MIN, 45))
    # Tue 09:00, planned 30: over-ran to 40 -> 30 delivered, 40 paid.
    visit(su, anna, T0 + DAY, 40, plan=planned(su, anna, T0 + DAY, 30))
    # Tue 18:00, one 30-minute two-carer slot: Anna 18:00-18:30, Ben 18:02-18:31.
    tue6 = T0 + DAY + 9 * 60 * MIN
    visit(su, anna, tue6, 30, plan=planned(su, anna, tue6, 30))
    visit(su, ben, tue6 + 2 * MIN, 29, plan=planned(su, ben, tue6, 30))
    # Wed 09:00: never checked out (open) -> 0 until it is.
    missing = visit(su, anna, T0 + 2 * DAY, None, plan=planned(su, anna, T0 + 2 * DAY, 30))
    # Thu 14:00, unplanned, Ben 15 minutes.
    visit(su, ben, T0 + 3 * DAY + 5 * 60 * MIN, 15)
    # The other provider's person in the same council, and our provider's person in
    # another council: neither counts for Peggy's provider in this council.
    visit(w.sam, w.ella, T0, 50, plan=planned(w.sam, w.ella, T0, 45))
    visit(w.ray, anna, T0 + 4 * DAY, 30, plan=planned(w.ray, anna, T0 + 4 * DAY, 30))
    return cast, w, missing


PEGGY_DELIVERED = 30 + 20 + 30 + 30 + 0 + 15  # the two-carer slot once


def council_export(cast, manager) -> dict[str, dict]:
    rows = read_csv(
        client_for(manager).get(
            f"/api/careplan/exports/council.csv?council={cast.council.id}&{PERIOD}"
        )
    )
    return {r["service_user_id"]: r for r in rows}


def dashboard_person_hours(cast, su_id: int) -> dict[str, str]:
    rows = read_csv(
        client_for(cast.carol).get(f"/dashboards/service-user/{su_id}/export.csv?period=4w")
    )
    return {r["series"]: r["value"] for r in rows if r["section"] == "hours"}


def dashboard_council_hours(cast) -> dict[str, str]:
    rows = read_csv(client_for(cast.colin).get("/dashboards/council/export.csv?period=4w"))
    return {
        f"{r['section']}|{r['bucket']}|{r['series']}": r["value"]
        for r in rows
        if r["section"].startswith("hours")
    }


def assert_agree(cast, peggy_minutes: int) -> None:
    ours = council_export(cast, cast.carol)
    theirs = council_export(cast, cast.other_manager)
    peggy = ours[str(cast.peggy.id)]
    assert int(peggy["delivered_minutes"]) == peggy_minutes
    assert peggy["delivered_hours"] == f"{peggy_minutes / 60:.2f}"
    # The person: the service-user dashboard's delivered minutes and hours.
    person = dashboard_person_hours(cast, cast.peggy.id)
    assert int(person["delivered_minutes"]) == int(peggy["delivered_minutes"])
    assert float(person["delivered"]) == round(peggy_minutes / 60, 1)
    # Each provider: the council dashboard's per-provider figure is that provider's
    # council export total, and the council total is the sum of both exports.
    council = dashboard_council_hours(cast)
    for org, export in ((cast.provider, ours), (cast.other_provider, theirs)):
        key = f"hours:provider:{org.id}|period|delivered_minutes"
        assert int(council[key]) == int(export["TOTAL"]["delivered_minutes"]), org.name
    assert int(council["hours|total|delivered_minutes"]) == sum(
        int(e["TOTAL"]["delivered_minutes"]) for e in (ours, theirs)
    )


def test_the_council_export_and_the_dashboards_give_the_same_delivered_hours(seeded):
    cast, w, missing = seeded
    # Live: no rollups yet, every figure read from the stored per-visit rows.
    assert_agree(cast, PEGGY_DELIVERED)
    assert council_export(cast, cast.other_manager)[str(w.sam.id)]["delivered_minutes"] == "45"

    # From the daily rollups (every day of the seeded week is settled by NOW).
    rollup.refresh_all(NOW)
    assert_agree(cast, PEGGY_DELIVERED)

    # The missing check-out is filled in (35 minutes against a planned 30: within the
    # rules, 30 delivered). The stored row is recomputed before anything reads it; the
    # rollups pick it up on their next refresh, as the rollup worker does.
    Visit.objects.filter(pk=missing.pk).update(checked_out_at=missing.checked_in_at + 35 * MIN)
    rollup.refresh_recent(NOW + dt.timedelta(minutes=20))
    assert_agree(cast, PEGGY_DELIVERED + 30)
    row = VisitMinutes.objects.get(visit=missing)
    assert (row.open, row.delivered_minutes, row.pay_minutes) == (False, 30, 35)


def test_payroll_pays_each_carer_of_a_two_carer_visit_and_the_person_gets_it_once(seeded):
    cast, w, _ = seeded
    carol = client_for(cast.carol)

    def payroll(worker) -> list[dict]:
        return read_csv(carol.get(f"/api/careplan/exports/payroll.csv?worker={worker.id}&{PERIOD}"))

    *anna_visits, anna_total = payroll(cast.anna)
    *ben_visits, ben_total = payroll(w.ben)
    # Anna: 30 (within tolerance) + 20 (cut short) + 40 (over-run) + 30 (two-carer)
    # + 0 (open) + 30 (Ray, other council: payroll is per worker, not per council).
    assert [int(r["pay_minutes"]) for r in anna_visits] == [30, 20, 40, 30, 0, 30]
    assert int(anna_total["pay_minutes"]) == 150
    assert [r["cut_short"] for r in anna_visits] == ["no", "yes", "no", "no", "no", "no"]
    assert int(anna_total["open"]) == 1
    # Ben: 29 minutes in the 30-minute two-carer slot are paid as 30; 15 unplanned.
    assert [int(r["pay_minutes"]) for r in ben_visits] == [30, 15]
    assert [r["two_carer"] for r in ben_visits] == ["yes", "no"]
    # Both carers are paid for the slot; the person's delivered time counts it once.
    two = [r for r in anna_visits + ben_visits if r["two_carer"] == "yes"]
    assert sum(int(r["pay_minutes"]) for r in two) == 60
    peggy = council_export(cast, cast.carol)[str(cast.peggy.id)]
    assert int(peggy["two_carer_visits"]) == 1 and int(peggy["delivered_visits"]) == 5
    # Payroll and council export read the same stored rows as the dashboards.
    assert VisitMinutes.objects.filter(visit__service_user=cast.peggy).count() == 7


def test_recomputing_after_one_visit_changes_equals_computing_the_whole_day_afresh(cast):
    """The stored rows after an incremental update are exactly the rules over every visit
    of the day: a change reaches its person's group and its worker's travel legs, and
    rows further away (other people, other workers) are left as they were — and right."""
    w = build_world(cast)
    anna, ben, su, ray = cast.anna, w.ben, cast.peggy, w.ray
    home = (53.48, -2.24)
    # Anna: Peggy 09:00, then Ray 10:00 with Ben (two-carer); Ben then Peggy at 11:00.
    first = visit(su, anna, T0, 30, plan=planned(su, anna, T0, 30), pos_out=home)
    visit(ray, anna, T0 + 60 * MIN, 30, plan=planned(ray, anna, T0 + 60 * MIN, 30), pos_in=home)
    visit(ray, ben, T0 + 62 * MIN, 28, plan=planned(ray, ben, T0 + 60 * MIN, 30), pos_out=home)
    visit(su, ben, T0 + 120 * MIN, 20, plan=planned(su, ben, T0 + 120 * MIN, 45), pos_in=home)
    visit(w.sam, w.ella, T0, 30)  # another provider: untouched by any of this

    def stored() -> dict[int, tuple]:
        return {
            r.visit_id: (
                r.delivered_minutes,
                r.pay_minutes,
                r.two_carer,
                r.group_visit_id,
                r.travel_minutes,
                r.travel_km,
                r.cut_short,
                r.open,
            )
            for r in VisitMinutes.objects.all()
        }

    def afresh() -> dict[int, tuple]:
        return {
            h.visit_id: (
                h.delivered_minutes,
                h.pay_minutes,
                h.two_carer,
                h.group,
                h.travel_minutes,
                h.travel_km,
                h.cut_short,
                h.open,
            )
            for h in hours.visit_hours(visit_facts(Visit.objects.select_related("planned_visit")))
        }

    delivered.sync(Visit.objects.all(), NOW)
    assert stored() == afresh()
    # Anna's first visit ran 40 minutes later than recorded: her travel to Ray's shrinks
    # to nothing (she left at 10:10, after arriving there) and Peggy's day is re-credited.
    Visit.objects.filter(pk=first.pk).update(checked_out_at=T0 + 70 * MIN)
    assert delivered.sync(Visit.objects.filter(pk=first.pk), NOW) > 0
    assert stored() == afresh()
    assert stored()[first.pk][:2] == (30, 70)  # over-run: delivered up to plan, paid as worked
