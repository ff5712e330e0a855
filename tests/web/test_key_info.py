"""Key information: edited on a page (and the API) with its history, and the "what
changed since your last visit" card for a returning care worker.

Only Peggy's provider's care manager edits; the team and Peggy read it with its history;
family, council staff and every other provider's or council's people get the one 404.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from rooms.models import AuditEvent, KeyInfoVersion, ServiceUser
from tests.bots.helpers import HOME, bot_entries, run, say

pytestmark = pytest.mark.django_db
NOT_FOUND = {"error": "not_found", "message": "No such person."}


def client_for(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


def _form(**changes) -> dict:
    base = {
        "preferences": "Tea, one sugar",
        "what_matters": "",
        "communication_needs": "",
        "access_notes": "Key safe code 4411",
        "expected_version": 0,
    }
    return {**base, **changes}


def _state() -> tuple:
    su = ServiceUser.objects.order_by("id").values_list(
        "id", "preferences", "what_matters", "communication_needs", "access_notes"
    )
    return list(su), KeyInfoVersion.objects.count()


def test_the_manager_edits_on_the_page_and_everyone_in_the_team_sees_the_history(cast):
    carol = client_for(cast.carol)
    url = f"/people/{cast.peggy.id}/key-info/"
    page = carol.get(url).content.decode()
    assert "Save key information" in page and "No changes recorded yet." in page
    r = carol.post(url, _form(access_notes="Key safe code 9902 (changed 2 Mar)"))
    assert r.status_code == 302 and r["Location"].endswith("?saved=1")
    r = carol.post(
        url,
        _form(
            what_matters="Her cat, Smudge",
            expected_version=2,
            access_notes="Key safe code 9902 (changed 2 Mar)",
        ),
    )
    assert r.status_code == 302
    peggy = ServiceUser.objects.get(pk=cast.peggy.pk)
    assert peggy.access_notes.startswith("Key safe code 9902") and peggy.what_matters
    versions = list(
        KeyInfoVersion.objects.filter(service_user=peggy)
        .order_by("version")
        .values_list("version", "changed_fields", "changed_by")
    )
    assert versions == [
        (1, "", None),
        (2, "access_notes", cast.carol.id),
        (3, "what_matters", cast.carol.id),
    ]
    assert KeyInfoVersion.objects.get(version=1).access_notes == "Key safe code 4411"
    # A care worker and the nurse read it with its history; no edit form for them.
    for who in (cast.anna, cast.nadia, cast.margaret):
        body = client_for(who).get(url).content.decode()
        assert "Version 3" in body and "changed: What matters" in body
        assert "Save key information" not in body
    # Audited without content.
    events = AuditEvent.objects.filter(action="service_user.update", service_user=peggy)
    assert [e.target for e in events] == ["fields:access_notes", "fields:what_matters"]


def test_a_stale_edit_is_refused_and_nothing_is_overwritten(cast):
    carol = client_for(cast.carol)
    url = f"/people/{cast.peggy.id}/key-info/"
    assert carol.post(url, _form(preferences="Coffee")).status_code == 302
    before = _state()
    r = carol.post(url, _form(preferences="Green tea"))  # still based on version 0
    assert r.status_code == 200 and "Someone else changed the key information" in r.content.decode()
    assert _state() == before


def test_saving_unchanged_values_writes_no_version(cast):
    carol = client_for(cast.carol)
    r = carol.post(f"/people/{cast.peggy.id}/key-info/", _form())
    assert r.status_code == 302
    assert KeyInfoVersion.objects.count() == 0


REFUSED_READERS = [
    "family",
    "commissioner",
    "other_provider_manager",
    "other_provider_worker",
    "other_council_manager",
    "other_council_worker",
    "other_council_nurse",
    "other_council_commissioner",
    "other_council_service_user",
    "other_council_family",
    "unassigned_worker",
]


@pytest.mark.parametrize("who", REFUSED_READERS)
def test_outsiders_get_the_same_404_on_page_and_api_and_write_nothing(cast, who):
    c = client_for(cast.everyone()[who])
    before = _state()
    missing = client_for(cast.carol).get("/api/service-users/9000000/key-info")
    url = f"/api/service-users/{cast.peggy.id}/key-info"
    for r in (
        c.get(url),
        c.put(url, json.dumps(_form(preferences="Hacked")), content_type="application/json"),
    ):
        assert (r.status_code, r.json()) == (404, NOT_FOUND) == (404, missing.json())
    assert c.get(f"/people/{cast.peggy.id}/key-info/").status_code == 404
    assert c.post(f"/people/{cast.peggy.id}/key-info/", _form(preferences="x")).status_code == 404
    assert _state() == before


@pytest.mark.parametrize("who", ["care_worker", "nurse", "therapist", "service_user"])
def test_readers_who_may_not_edit_get_the_same_404_for_an_edit(cast, who):
    c = client_for(cast.everyone()[who])
    before = _state()
    r = c.put(
        f"/api/service-users/{cast.peggy.id}/key-info",
        json.dumps(_form(preferences="x")),
        content_type="application/json",
    )
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    assert c.post(f"/people/{cast.peggy.id}/key-info/", _form(preferences="x")).status_code == 404
    assert c.get(f"/api/service-users/{cast.peggy.id}/key-info").status_code == 200
    assert _state() == before


def test_the_other_councils_manager_edits_only_her_own_people(cast):
    fiona = client_for(cast.far_manager)
    r = fiona.put(
        f"/api/service-users/{cast.reg.id}/key-info",
        json.dumps(_form(access_notes="Key under the red pot")),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    assert r.json()["history"][0]["changed_fields"] == ["access_notes", "preferences"]


@pytest.mark.parametrize(
    "body",
    [
        {**_form(), "extra": 1},
        _form(preferences="x" * 4001),
        _form(expected_version=-1),
        _form(expected_version=2**63),
        _form(preferences=7),
        {k: v for k, v in _form().items() if k != "expected_version"},
    ],
)
def test_odd_api_bodies_are_422_and_write_nothing(cast, body):
    before = _state()
    r = client_for(cast.carol).put(
        f"/api/service-users/{cast.peggy.id}/key-info",
        json.dumps(body),
        content_type="application/json",
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    assert _state() == before


def _visit(cast, clk, who):
    room = cast.team
    say(who, room, "check in", location=HOME)
    run()
    clk.advance(dt.timedelta(minutes=30))
    say(who, room, "check out", location=HOME)
    run()
    clk.advance(dt.timedelta(hours=3))


def _key_cards(cast):
    return [
        m.payload for m in bot_entries(cast.team, "card") if m.payload["card_type"] == "key_info"
    ]


def test_a_returning_worker_is_shown_what_changed_since_her_last_visit(cast, frozen_clock):
    _visit(cast, frozen_clock, cast.anna)
    assert [c["title"] for c in _key_cards(cast)] == ["First visit to Peggy: key information"]
    # Carol changes the access notes on the page between Anna's visits.
    r = client_for(cast.carol).post(
        f"/people/{cast.peggy.id}/key-info/", _form(access_notes="Key safe code 9902")
    )
    assert r.status_code == 302
    frozen_clock.advance(dt.timedelta(hours=1))
    _visit(cast, frozen_clock, cast.anna)
    cards = _key_cards(cast)
    assert len(cards) == 2
    assert cards[1]["title"].startswith("Since your last visit, Peggy's key information changed")
    assert cards[1]["data"] == {"access_notes": "Key safe code 9902"}
    # The next visit with nothing changed: no card.
    _visit(cast, frozen_clock, cast.anna)
    assert len(_key_cards(cast)) == 2
