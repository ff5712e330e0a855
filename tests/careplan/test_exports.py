"""Payroll and council exports: downloaded over HTTP, read back with the csv module, and
equal to the pure hours rules for the same period; who may download which."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from bots.models import PlannedVisit, Visit
from careplan import hours
from careplan.store import planned_facts, visit_facts
from rooms.models import AuditEvent
from tests.careplan.helpers import MIN, build_world, client_for, planned, visit
from tests.support.cast import T0

pytestmark = pytest.mark.django_db
API = "/api/careplan/exports"
NOT_FOUND = {"error": "not_found", "message": "Not found."}
PEGGY_HOME = (53.4808, -2.2426)
RAY_HOME = (53.4900, -2.2426)  # ~1 km north
DAY = dt.timedelta(days=1)
PERIOD = "start=2026-03-02&end=2026-03-08"


@pytest.fixture
def world(cast):
    w = build_world(cast)
    cast.peggy.commissioned_hours_per_week = 7
    cast.peggy.save()
    anna, ben = cast.anna, w.ben
    # Monday: Peggy 09:00-09:30 as planned; 15 min travel; Ray 09:45, cut short (20 of 45).
    visit(cast.peggy, anna, T0, 30, plan=planned(cast.peggy, anna, T0, 30), pos_out=PEGGY_HOME)
    visit(
        w.ray,
        anna,
        T0 + 45 * MIN,
        20,
        plan=planned(w.ray, anna, T0 + 45 * MIN, 45),
        pos_in=RAY_HOME,
        pos_out=RAY_HOME,
    )
    # Tuesday 18:00: a two-carer visit to Ray (Anna and Ben), one 30-minute slot.
    tue = T0 + DAY + 9 * 60 * MIN
    visit(w.ray, anna, tue, 30, plan=planned(w.ray, anna, tue, 30))
    visit(w.ray, ben, tue + 2 * MIN, 29, plan=planned(w.ray, ben, tue, 30))
    # Wednesday: never checked out. Next Monday: outside the period.
    visit(cast.peggy, anna, T0 + 2 * DAY, None)
    visit(cast.peggy, anna, T0 + 7 * DAY, 30)
    # Another provider's worker and person, same council as Peggy.
    visit(w.sam, w.ella, T0 + 60 * MIN, 30, plan=planned(w.sam, w.ella, T0 + 60 * MIN, 30))
    return w


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def pure_hours() -> list[hours.VisitHours]:
    """The rules applied afresh to every stored visit (independently of careplan.exports)."""
    return hours.visit_hours(visit_facts(Visit.objects.select_related("planned_visit")))


def test_the_payroll_export_is_the_pure_pay_and_travel_figures(cast, world):
    rows = read_csv(client_for(cast.carol).get(f"{API}/payroll.csv?worker={cast.anna.id}&{PERIOD}"))
    *visits, total = rows
    start, end = dt.date(2026, 3, 2), dt.date(2026, 3, 8)
    expected = [h for h in pure_hours() if h.worker_id == cast.anna.id and start <= h.day <= end]
    assert [int(r["visit_id"]) for r in visits] == [h.visit_id for h in expected]
    for r, h in zip(visits, expected, strict=True):
        assert int(r["pay_minutes"]) == h.pay_minutes
        assert int(r["actual_minutes"]) == h.actual_minutes
        assert r["travel_minutes"] == ("" if h.travel_minutes is None else str(h.travel_minutes))
        assert r["two_carer"] == ("yes" if h.two_carer else "no")
    t = hours.worker_totals(expected, start, end)[cast.anna.id]
    assert total["date"] == "TOTAL"
    assert int(total["pay_minutes"]) == t.pay_minutes == 30 + 20 + 30 + 0
    assert int(total["travel_minutes"]) == t.travel_minutes == 15
    assert float(total["travel_km"]) == t.travel_km and 1.0 < t.travel_km < 1.05
    assert int(total["open"]) == t.open_visits == 1
    assert int(total["two_carer"]) == t.two_carer_visits == 1
    assert "Raymond" not in "".join(r["worker"] + r["service_user_id"] for r in rows)
    assert (
        AuditEvent.objects.filter(
            actor=cast.carol, action="export.payroll", target=f"worker:{cast.anna.id}"
        ).count()
        == 1
    )


def test_the_council_export_is_commissioned_planned_and_delivered_per_person(cast, world):
    carol = client_for(cast.carol)
    west = read_csv(carol.get(f"{API}/council.csv?council={world.westshire.id}&{PERIOD}"))
    north = read_csv(carol.get(f"{API}/council.csv?council={cast.council.id}&{PERIOD}"))
    oscar = read_csv(
        client_for(cast.other_manager).get(f"{API}/council.csv?council={cast.council.id}&{PERIOD}")
    )
    assert [r["service_user_id"] for r in west] == [str(world.ray.id), "TOTAL"]
    assert [r["service_user_id"] for r in north] == [str(cast.peggy.id), "TOTAL"]
    assert [r["service_user_id"] for r in oscar] == [str(world.sam.id), "TOTAL"]

    start, end = dt.date(2026, 3, 2), dt.date(2026, 3, 8)
    people = {world.ray.id: world.ray, cast.peggy.id: cast.peggy}
    expected = hours.person_totals(
        pure_hours(),
        planned_facts(PlannedVisit.objects.all()),
        {i: p.commissioned_hours_per_week for i, p in people.items()},
        start,
        end,
    )
    for row in (west[0], north[0]):
        e = expected[int(row["service_user_id"])]
        for col, val in (
            ("commissioned_minutes", e.commissioned_minutes),
            ("planned_visits", e.planned_visits),
            ("planned_minutes", e.planned_minutes),
            ("delivered_visits", e.visits),
            ("delivered_minutes", e.delivered_minutes),
            ("cut_short_visits", e.cut_short),
            ("two_carer_visits", e.two_carer_visits),
        ):
            assert int(row[col]) == val, col
        assert row["delivered_hours"] == f"{e.delivered_minutes / 60:.2f}"
    ray = west[0]
    # 5 h/week for a week; 45 + one 30-minute two-carer slot; 20 (cut short) + 30 once.
    assert (
        ray["commissioned_minutes"],
        ray["planned_minutes"],
        ray["delivered_minutes"],
        ray["cut_short_visits"],
        ray["two_carer_visits"],
    ) == ("300", "75", "50", "1", "1")
    assert west[1]["delivered_minutes"] == "50" and west[1]["name"] == ""
    assert ray["name"] == "Raymond Booth" and ray["council"] == "Westshire Council"


@pytest.mark.parametrize(
    ("who", "worker", "ok"),
    [
        ("anna", "anna", True),
        ("carol", "anna", True),
        ("carol", "ben", True),
        ("ben", "anna", False),
        ("outsider_worker", "anna", False),
        ("other_manager", "anna", False),
        ("debbie", "anna", False),
        ("colin", "anna", False),
        ("carol", "ella", False),
        ("carol", "carol", False),
    ],
)
def test_payroll_only_for_the_worker_and_their_providers_managers(cast, world, who, worker, ok):
    def p(name):
        return getattr(world, name, None) or getattr(cast, name)

    r = client_for(p(who)).get(f"{API}/payroll.csv?worker={p(worker).id}&{PERIOD}")
    if ok:
        assert r.status_code == 200
    else:
        assert (r.status_code, r.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    ("who", "council"),
    [
        ("other_manager", "westshire"),
        ("colin", "council"),
        ("colin", "westshire"),
        ("anna", "council"),
        ("debbie", "council"),
        ("margaret", "council"),
    ],
)
def test_council_exports_refused_to_anyone_but_a_provider_with_people_there(
    cast, world, who, council
):
    org = getattr(world, council, None) or getattr(cast, council)
    person = getattr(cast, who)
    r = client_for(person).get(f"{API}/council.csv?council={org.id}&{PERIOD}")
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-03-08&end=2026-03-02",
        "start=2026-01-01&end=2026-06-30",
        "start=1999-12-31&end=2000-01-02",
        "start=2026-03-02",
        "start=2026-13-01&end=2026-13-02",
        f"{PERIOD}&extra=1",
    ],
)
def test_a_bad_period_is_a_clear_422(cast, world, query):
    r = client_for(cast.carol).get(f"{API}/payroll.csv?worker={cast.anna.id}&{query}")
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    r = client_for(cast.carol).get(f"{API}/council.csv?council={cast.council.id}&{query}")
    assert r.status_code == 422
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


def test_a_name_that_looks_like_a_formula_is_written_as_text(cast, world):
    world.ray.full_name = '=HYPERLINK("http://x")'
    world.ray.save()
    r = client_for(cast.carol).get(f"{API}/council.csv?council={world.westshire.id}&{PERIOD}")
    assert read_csv(r)[0]["name"] == '\'=HYPERLINK("http://x")'
