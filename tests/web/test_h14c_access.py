"""Access for the planning, exceptions-action and audit pages and endpoints (issue 14 C):
role × organisation × action across two providers and two councils. Every refusal of
something the caller may not know about is the same 404 body; nothing is written.

Expectations are written out by hand, not derived from rooms.access.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.test import Client

from bots.import_csv import ReferenceIn, check_set_reference
from bots.models import PlannedVisit, Visit
from rooms import audit
from rooms.models import AuditEvent, Role, ServiceUser
from tests.support.cast import T0, person

pytestmark = pytest.mark.django_db

CSV = "service_user,worker,date,start,end\nBW-001,anna,2026-03-09,08:00,08:30\n"


def client(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


@pytest.fixture
def world(cast):
    check_set_reference(cast.carol, cast.peggy.id, ReferenceIn(reference="BW-001"))
    visit = Visit.objects.create(
        service_user=cast.peggy,
        worker=cast.anna,
        checked_in_at=T0,
        checkin_location=Visit.Location.OUT_OF_RANGE,
        checkin_distance_m=900,
    )
    reg_visit = Visit.objects.create(
        service_user=cast.reg,
        worker=cast.far_worker,
        checked_in_at=T0,
        checkin_location=Visit.Location.NO_LOCATION,
    )
    fine_visit = Visit.objects.create(
        service_user=cast.peggy,
        worker=cast.anna,
        checked_in_at=T0 + dt.timedelta(hours=3),
        checkin_location=Visit.Location.IN_RANGE,
    )
    audit.record(cast.nadia, "room.read", room=cast.team, now=T0)
    audit.record(cast.colin, "alert.context_read", service_user=cast.peggy, now=T0)
    audit.record(cast.far_manager, "room.read", room=cast.reg_team, now=T0)
    cast.visit, cast.reg_visit, cast.fine_visit = visit, reg_visit, fine_visit
    return cast


def people(cast) -> dict:
    """Everyone with a login, plus each organisation kind's administrator (and one
    administrator role placed in the wrong kind of organisation)."""
    out = {k: v for k, v in cast.everyone().items() if v.user_id is not None}
    out["provider_admin"] = person("pam", "Pam Admin", Role.PROVIDER_ADMIN, cast.provider)
    out["council_admin"] = person("cal", "Cal Admin", Role.COUNCIL_ADMIN, cast.council)
    out["other_council_admin"] = person("sam", "Sam Admin", Role.COUNCIL_ADMIN, cast.other_council)
    out["misplaced_admin"] = person("max", "Max Admin", Role.PROVIDER_ADMIN, cast.council)
    return out


LEADS = {
    "care_manager",
    "commissioner",
    "other_provider_manager",
    "other_council_manager",
    "other_council_commissioner",
    "provider_admin",
    "council_admin",
    "other_council_admin",
}


def _api(c: Client, method: str, url: str, body: dict | None = None):
    return getattr(c, method)(url, data=json.dumps(body or {}), content_type="application/json")


# action -> (who may; how to call as person p); the call returns a response.
def actions(w):
    return {
        "import_page": (
            {"care_manager", "other_provider_manager", "other_council_manager"},
            lambda c: c.get("/planning/import/"),
        ),
        "csv_preview_api": (
            {"care_manager", "other_provider_manager", "other_council_manager"},
            lambda c: _api(c, "post", "/api/planning/planned-csv/preview", {"csv": CSV}),
        ),
        "reference_api": (
            {"care_manager"},
            lambda c: _api(
                c,
                "put",
                f"/api/planning/service-users/{w.peggy.id}/reference",
                {"reference": "BW-001"},
            ),
        ),
        "review_api": (
            {"care_manager"},
            lambda c: _api(
                c,
                "post",
                f"/api/planning/visits/{w.visit.id}/location-review",
                {"decision": "accepted", "note": "road closed"},
            ),
        ),
        "review_page": (
            {"care_manager"},
            lambda c: c.post(
                f"/exceptions/visits/{w.visit.id}/location-review",
                {"decision": "disputed", "note": "check the phone"},
            ),
        ),
        "exemption_api": (
            {"care_manager"},
            lambda c: _api(
                c,
                "put",
                f"/api/planning/service-users/{w.peggy.id}/location-exemption",
                {"exempt": True, "reason": "no signal"},
            ),
        ),
        "exemption_page": (
            {"care_manager"},
            lambda c: c.post(
                f"/people/{w.peggy.id}/manage/location-exemption",
                {"exempt": "on", "reason": "no signal"},
            ),
        ),
        "import_commit_page": (
            {"care_manager", "other_provider_manager", "other_council_manager"},
            lambda c: c.post("/planning/import/", {"csv": CSV, "action": "commit"}),
        ),
        "reference_page": (
            {"care_manager"},
            lambda c: c.post(f"/people/{w.peggy.id}/manage/reference", {"reference": "BW-001"}),
        ),
        "audit_export_page": (
            LEADS,
            lambda c: c.get("/audit/export.csv"),
        ),
        "audit_page": (
            LEADS,
            lambda c: c.get("/audit/"),
        ),
        "audit_api": (
            LEADS,
            lambda c: c.get("/api/audit/events"),
        ),
    }


def test_every_new_page_and_endpoint_refuses_everyone_else_with_the_same_404(world):
    bodies: dict[str, set[bytes]] = {"page": set(), "api": set()}
    cast = people(world)
    for name, (allowed, call) in actions(world).items():
        for role, p in cast.items():
            before = (
                AuditEvent.objects.exclude(action__startswith="audit.").count(),
                PlannedVisit.objects.count(),
                Visit.objects.filter(exception_review="").count(),
                ServiceUser.objects.filter(location_exempt=True).count(),
            )
            r = call(client(p))
            if role in allowed:
                assert r.status_code in (200, 201, 302), (name, role, r.status_code)
                continue
            assert r.status_code == 404, (name, role, r.status_code)
            bodies["api" if "api" in name else "page"].add(r.content)
            after = (
                AuditEvent.objects.exclude(action__startswith="audit.").count(),
                PlannedVisit.objects.count(),
                Visit.objects.filter(exception_review="").count(),
                ServiceUser.objects.filter(location_exempt=True).count(),
            )
            assert after == before, (name, role)
    assert len(bodies["api"]) == 1, bodies["api"]
    assert len(bodies["page"]) == 1


def test_another_providers_exception_and_a_fine_visit_are_the_same_404(world):
    c = client(world.carol)
    missing = max(Visit.objects.values_list("id", flat=True)) + 100
    answers = {
        _api(
            c,
            "post",
            f"/api/planning/visits/{v}/location-review",
            {"decision": "accepted", "note": "fine"},
        ).content
        for v in (world.reg_visit.id, world.fine_visit.id, missing)
    }
    assert len(answers) == 1 and b"not_found" in answers.pop()
    r = _api(
        c,
        "put",
        f"/api/planning/service-users/{world.reg.id}/location-exemption",
        {"exempt": True, "reason": "no signal"},
    )
    assert r.status_code == 404
    assert not ServiceUser.objects.get(pk=world.reg.id).location_exempt


def test_review_and_exemption_are_shown_with_who_and_when_and_audited(world, frozen_clock):
    c = client(world.carol)
    r = c.post(
        f"/exceptions/visits/{world.visit.id}/location-review",
        {"decision": "disputed", "note": "Ask Anna about the phone"},
    )
    assert r.status_code == 302
    page = c.get("/exceptions/").content.decode()
    assert 'data-review="disputed"' in page and "Disputed by Carol Evans" in page
    assert "Ask Anna about the phone" in page
    ev = AuditEvent.objects.get(action="location_exception.disputed")
    assert (ev.actor_id, ev.target) == (world.carol.id, f"visit:{world.visit.id}")
    # odd input: no note, an unknown decision, an extra field -> clear error, nothing written
    for body in (
        {"decision": "accepted", "note": ""},
        {"decision": "maybe", "note": "abc"},
        {"decision": "accepted", "note": "abc", "by": 1},
    ):
        r = _api(c, "post", f"/api/planning/visits/{world.visit.id}/location-review", body)
        assert r.status_code == 422, body
    assert Visit.objects.get(pk=world.visit.id).exception_review == "disputed"
    r = _api(
        c,
        "put",
        f"/api/planning/service-users/{world.peggy.id}/location-exemption",
        {"exempt": True, "reason": ""},
    )
    assert r.status_code == 422 and not ServiceUser.objects.get(pk=world.peggy.id).location_exempt
    c.post(
        f"/people/{world.peggy.id}/manage/location-exemption",
        {"exempt": "on", "reason": "No signal in the valley"},
    )
    su = ServiceUser.objects.get(pk=world.peggy.id)
    assert (su.location_exempt, su.location_exempt_reason) == (True, "No signal in the valley")
    assert AuditEvent.objects.filter(action="service_user.update", service_user=su).exists()


def test_the_audit_viewer_is_scoped_to_the_leads_organisation(world):
    def people_in(person):
        rows = json.loads(client(person).get("/api/audit/events").content)
        return {r["person"] for r in rows}

    assert world.peggy.id in people_in(world.carol)
    assert world.reg.id not in people_in(world.carol)
    assert world.peggy.id not in people_in(world.other_manager)  # same council, other provider
    assert people_in(world.colin) >= {world.peggy.id} and world.reg.id not in people_in(world.colin)
    assert world.reg.id in people_in(world.far_commissioner)
    assert world.peggy.id not in people_in(world.far_commissioner)
    cal = person("cal", "Cal Admin", Role.COUNCIL_ADMIN, world.council)
    pam = person("pam", "Pam Admin", Role.PROVIDER_ADMIN, world.provider)
    sam = person("sam", "Sam Admin", Role.COUNCIL_ADMIN, world.other_council)
    assert world.peggy.id in people_in(cal) and world.reg.id not in people_in(cal)
    assert world.peggy.id in people_in(pam) and world.reg.id not in people_in(pam)
    assert world.reg.id in people_in(sam) and world.peggy.id not in people_in(sam)


def test_the_audit_viewer_filters_and_exports_csv(world):
    c = client(world.carol)
    q = f"?person={world.peggy.id}&actor={world.nadia.id}&kind=reads"
    q += "&since=2026-03-02&until=2026-03-02"
    rows = json.loads(c.get("/api/audit/events" + q).content)
    assert [(r["actor"], r["action"]) for r in rows] == [(world.nadia.id, "room.read")]
    assert json.loads(c.get("/api/audit/events?since=2026-03-03&until=2026-03-31").content) == []
    r = c.get("/audit/export.csv" + q)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    got = list(csv.reader(io.StringIO(r.content.decode())))
    assert got[0] == [
        "at",
        "actor",
        "actor_role",
        "actor_organisation",
        "action",
        "person",
        "target",
    ]
    assert [row[1:6] for row in got[1:]] == [
        ["Nadia Rahman", "nurse", "Community Health", "room.read", "Margaret Hughes"]
    ]
    assert AuditEvent.objects.filter(action="audit.exported", actor=world.carol).count() == 1
    # odd filters: a clear 422, never a 500
    for bad in (
        "?since=0001-01-01",
        "?until=2026-01-01&since=2026-02-01",
        "?kind=all",
        "?person=99999999999999999999",
        "?person=-1",
        "?since=2026-02-30",
    ):
        assert c.get("/api/audit/events" + bad).status_code == 422, bad
        assert c.get("/audit/export.csv" + bad).status_code == 422, bad
    assert "Check the filter" in c.get("/audit/?kind=nope").content.decode()


def test_the_admin_cannot_add_change_or_delete_audit_rows(world, admin_client):
    ev = AuditEvent.objects.first()
    base = "/admin/rooms/auditevent/"
    assert admin_client.get(base).status_code == 200
    assert admin_client.get(base + "add/").status_code == 403
    r = admin_client.post(f"{base}{ev.id}/change/", {"action": "forged", "target": "x"})
    assert r.status_code in (302, 403)
    assert AuditEvent.objects.get(pk=ev.id).action == ev.action
    r = admin_client.post(f"{base}{ev.id}/delete/", {"post": "yes"})
    assert r.status_code == 403
    admin_client.post(
        base, {"action": "delete_selected", "_selected_action": [ev.id], "post": "yes"}
    )
    assert AuditEvent.objects.filter(pk=ev.id).exists()


def test_the_csv_export_defuses_spreadsheet_formulas(world):
    audit.record(world.carol, "room.read", room=world.team, target="=HYPERLINK(1)", now=T0)
    got = list(
        csv.reader(io.StringIO(client(world.carol).get("/audit/export.csv").content.decode()))
    )
    targets = [row[6] for row in got[1:]]
    assert "'=HYPERLINK(1)" in targets and "=HYPERLINK(1)" not in targets


def test_a_bad_or_taken_reference_is_a_clear_message_and_changes_nothing(world):
    c = client(world.carol)
    other = ServiceUser.objects.create(
        full_name="Albert Moss",
        provider=world.provider,
        council=world.council,
        created_at=world.peggy.created_at,
    )
    for value, words in (("bad ref!", "letters, digits"), ("bw-001", "already has the reference")):
        r = c.post(f"/people/{other.id}/manage/reference", {"reference": value}, follow=True)
        assert words in r.content.decode(), value
        assert ServiceUser.objects.get(pk=other.id).reference == ""
