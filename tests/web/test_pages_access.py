"""Page-level access per role (DESIGN.md §4), through the real views and the Django test
client. The expectations are written out by hand, not derived from rooms.access."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from bots.models import PlannedVisit, Visit
from escalation.alerts import do_flag
from escalation.models import Alert
from rooms.messages import post_message
from rooms.models import AuditEvent
from rooms.network import do_remove_member, do_revoke_family_basis
from tests.support.cast import T0

pytestmark = pytest.mark.django_db

WHO = [
    "service_user",
    "care_worker",
    "nurse",
    "therapist",
    "care_manager",
    "family",
    "commissioner",
    "unassigned_worker",
    "other_provider_manager",
]

# page -> roles that get 200; everyone else is refused: 404, or 403 where the person is a
# member of the room but may not manage it (rooms.access says Forbidden).
ALLOWED = {
    "team": {"care_worker", "nurse", "therapist", "care_manager"},
    "family": {"care_worker", "care_manager", "family", "service_user"},
    # Every manager and commissioner has an inbox; only their own people are in it.
    "inbox": {"care_manager", "commissioner", "other_provider_manager"},
    "alert": {"care_manager"},  # not escalated: the council does not see it yet
    "exceptions": {"care_manager", "other_provider_manager"},
    "members": {"care_manager"},
    # Key-information access reads the plan; the service user sees their own.
    "visits": {"care_worker", "nurse", "therapist", "care_manager", "service_user"},
}


def client(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


@pytest.fixture
def alert(cast):
    msg = post_message(room=cast.team, sender=cast.anna, body="Peggy had a fall", now=T0).message
    do_flag(
        message=msg, rule="rule:falls.test", concern="falls", severity="high", source="rule", now=T0
    )
    return Alert.objects.get()


def urls(cast, alert) -> dict[str, str]:
    su = cast.peggy.id
    return {
        "team": f"/people/{su}/team/",
        "family": f"/people/{su}/family/",
        "inbox": "/alerts/",
        "alert": f"/alerts/{alert.id}/",
        "exceptions": "/exceptions/",
        "members": f"/people/{su}/manage/members/",
        "visits": f"/people/{su}/manage/visits/",
    }


@pytest.mark.parametrize("who", WHO)
def test_each_role_reaches_exactly_the_pages_design_allows(cast, alert, who):
    person = cast.everyone()[who]
    c = client(person)
    assert c.get("/").status_code == 200
    got = {name for name, url in urls(cast, alert).items() if c.get(url).status_code == 200}
    want = {name for name, roles in ALLOWED.items() if who in roles}
    assert got == want
    for name, url in urls(cast, alert).items():
        if name not in want:
            assert c.get(url).status_code in (403, 404), (who, name)
    if who in ("other_provider_manager", "commissioner", "unassigned_worker"):
        for url in ("/", "/alerts/", "/exceptions/"):
            assert b"Peggy" not in c.get(url).content, (who, url)


def test_escalated_alert_is_visible_to_the_council_read_only(cast, alert):
    Alert.objects.filter(pk=alert.pk).update(council_notified_at=T0)
    colin = client(cast.colin)
    page = colin.get(f"/alerts/{alert.id}/")
    assert page.status_code == 200
    assert b"Peggy had a fall" in page.content  # the flagged message, in its small window
    assert b"Acknowledge" not in page.content
    assert colin.post(f"/alerts/{alert.id}/ack").status_code == 404
    assert Alert.objects.get().state == "open"
    assert AuditEvent.objects.filter(actor=cast.colin, action="alert.read").exists()


def test_key_information_is_shown_to_staff_but_never_to_family(cast):
    url = f"/people/{cast.peggy.id}/family/"
    assert b"Key safe code 4411" in client(cast.anna).get(url).content
    assert b"Key safe code 4411" not in client(cast.debbie).get(url).content
    assert b"Key safe code 4411" not in client(cast.margaret).get(url).content


def test_share_with_family_and_check_in_are_offered_only_to_care_workers(cast):
    team = f"/people/{cast.peggy.id}/team/"
    anna = client(cast.anna).get(team).content
    assert b'id="share"' in anna and b'id="check-in"' in anna
    for who in (cast.nadia, cast.carol):
        page = client(who).get(team).content
        assert b'id="share"' not in page and b'id="check-in"' not in page
    assert b'id="share"' not in client(cast.anna).get(f"/people/{cast.peggy.id}/family/").content


def test_revoking_the_lawful_basis_closes_the_family_page_at_once(cast):
    url = f"/people/{cast.peggy.id}/family/"
    debbie = client(cast.debbie)
    assert debbie.get(url).status_code == 200
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    assert debbie.get(url).status_code == 404
    assert b"Peggy" not in debbie.get("/").content


def test_a_removed_member_loses_the_page(cast):
    url = f"/people/{cast.peggy.id}/team/"
    anna = client(cast.anna)
    assert anna.get(url).status_code == 200
    do_remove_member(cast.team, cast.anna, by=cast.carol)
    assert anna.get(url).status_code == 404
    assert anna.get(f"/people/{cast.peggy.id}/family/").status_code == 200


def test_manager_acknowledges_and_resolves_from_the_alert_page(cast, alert):
    carol = client(cast.carol)
    r = carol.post(f"/alerts/{alert.id}/ack", {"next": "/alerts/"})
    assert r.status_code == 302 and r["Location"] == "/alerts/"
    assert Alert.objects.get().state == "acknowledged"
    r = carol.post(f"/alerts/{alert.id}/resolve", {"resolve-outcome": ""})
    assert Alert.objects.get().state == "acknowledged"  # an outcome is required
    r = carol.post(f"/alerts/{alert.id}/resolve", {"resolve-outcome": "GP visited; no injury."})
    a = Alert.objects.get()
    assert a.state == "resolved" and a.outcome == "GP visited; no injury."
    assert b"GP visited; no injury." in carol.get(f"/alerts/{alert.id}/").content


def test_other_providers_manager_cannot_act_on_the_alert(cast, alert):
    oscar = client(cast.other_manager)
    assert oscar.post(f"/alerts/{alert.id}/ack").status_code == 404
    assert b"Peggy" not in oscar.get("/alerts/").content
    assert Alert.objects.get().state == "open"


def test_home_lists_the_care_workers_visits_today(cast, frozen_clock):
    PlannedVisit.objects.create(
        service_user=cast.peggy,
        worker=cast.anna,
        window_start=T0,
        window_end=T0 + dt.timedelta(minutes=30),
        expected_minutes=30,
        missed_check_at=T0 + dt.timedelta(hours=1),
        created_at=T0,
        updated_at=T0,
    )
    page = client(cast.anna).get("/").content.decode()
    assert "Today&#x27;s visits" in page or "Today's visits" in page
    assert "09:00–09:30" in page and "Peggy" in page
    assert "Peggy" not in client(cast.outsider_worker).get("/").content.decode()


def test_manager_plans_a_visit_and_a_care_worker_cannot(cast):
    url = f"/people/{cast.peggy.id}/manage/visits/"
    form = {"worker": cast.anna.id, "date": "2026-03-05", "start": "08:00", "end": "08:30"}
    assert client(cast.anna).post(url, form).status_code == 404
    assert not PlannedVisit.objects.exists()
    r = client(cast.carol).post(url, form)
    assert r.status_code == 200 and b"Visit planned" in r.content
    pv = PlannedVisit.objects.get()
    assert pv.worker == cast.anna and pv.expected_minutes == 30
    bad = client(cast.carol).post(url, {**form, "start": "09:00", "end": "08:00"})
    assert b"window_end must be after window_start" in bad.content
    assert PlannedVisit.objects.count() == 1


def test_an_account_without_a_person_gets_a_clear_page(db):
    user = get_user_model().objects.create(username="nobody")
    c = Client()
    c.force_login(user)
    r = c.get("/")
    assert r.status_code == 403 and b"not linked" in r.content


def test_pages_need_a_sign_in(cast):
    r = Client().get(f"/people/{cast.peggy.id}/team/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_exceptions_queue_lists_location_exceptions_missed_and_late_visits(cast, frozen_clock):
    pv = PlannedVisit.objects.create(
        service_user=cast.peggy,
        worker=cast.anna,
        window_start=T0 - dt.timedelta(hours=3),
        window_end=T0 - dt.timedelta(hours=2),
        expected_minutes=30,
        missed_check_at=T0 - dt.timedelta(hours=1),
        missed_flagged_at=T0 - dt.timedelta(hours=1),
        created_at=T0,
        updated_at=T0,
    )
    Visit.objects.create(
        service_user=cast.peggy,
        worker=cast.anna,
        checked_in_at=T0,
        checkin_location="out_of_range",
        checkin_distance_m=2400,
        late=True,
        exception_reason="Parked at the surgery first",
    )
    page = client(cast.carol).get("/exceptions/").content.decode()
    assert "2400 m" in page and "Parked at the surgery first" in page
    assert pv.worker_id == cast.anna.id and "Mon 2 Mar 06:00" in page  # 06:00 UTC = GMT
    assert page.count("Anna Kowalski") == 3  # missed, late, location
    other = client(cast.other_manager).get("/exceptions/").content.decode()
    assert "Anna Kowalski" not in other and "Peggy" not in other
