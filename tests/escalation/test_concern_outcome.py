"""Issue 15: whoever raised a concern sees it acknowledged and resolved, with the
family-safe words the manager wrote — never the staff outcome, never anyone else's."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from escalation.models import Alert
from rooms.network import do_revoke_family_basis
from tests.escalation.helpers import say


def client_for(person) -> Client:
    c = Client(raise_request_exception=False)
    c.force_login(person.user)
    return c


def post(c, url, data):
    return c.post(url, json.dumps(data), content_type="application/json")


def raise_concern(cast, who, text="Mum sounded muddled"):
    m = say(cast.debbie, cast.family, text)
    r = post(
        client_for(who),
        "/api/alerts/concerns",
        {"message_id": m.id, "reason": "Not herself", "concern": "confusion"},
    )
    assert r.status_code == 201, r.content
    return Alert.objects.get()


def mine(person) -> list[dict]:
    r = client_for(person).get("/api/alerts/mine")
    assert r.status_code == 200
    return r.json()


def test_the_raiser_follows_the_alert_and_reads_only_the_family_safe_outcome(cast, frozen_clock):
    alert = raise_concern(cast, cast.debbie)
    [c] = mine(cast.debbie)
    assert (c["state"], c["outcome"], c["reason"]) == ("open", "", "Not herself")
    carol = client_for(cast.carol)
    assert post(carol, f"/api/alerts/{alert.id}/ack", {}).status_code == 200
    assert mine(cast.debbie)[0]["state"] == "acknowledged"
    r = post(
        carol,
        f"/api/alerts/{alert.id}/resolve",
        {"outcome": "UTI suspected; GP prescribed antibiotics", "raiser_outcome": "GP visited."},
    )
    assert r.status_code == 200, r.content
    [c] = mine(cast.debbie)
    assert (c["state"], c["outcome"]) == ("resolved", "GP visited.")
    assert "antibiotics" not in json.dumps(c)
    page = client_for(cast.debbie).get("/concerns/").content.decode()
    assert "GP visited." in page and "antibiotics" not in page
    # Nobody else sees Debbie's concern as theirs.
    for other in (cast.anna, cast.margaret, cast.carol, cast.rita, cast.far_manager):
        assert mine(other) == []


def test_resolve_without_family_words_shows_no_outcome_and_odd_input_is_refused(cast, frozen_clock):
    alert = raise_concern(cast, cast.debbie)
    carol = client_for(cast.carol)
    too_long = post(
        carol, f"/api/alerts/{alert.id}/resolve", {"outcome": "x", "raiser_outcome": "y" * 1001}
    )
    assert too_long.status_code == 422
    wrong = post(carol, f"/api/alerts/{alert.id}/resolve", {"outcome": "x", "raiser_outcome": 5})
    assert wrong.status_code == 422
    assert Alert.objects.get().state == "open"  # nothing written
    assert post(carol, f"/api/alerts/{alert.id}/resolve", {"outcome": "Seen"}).status_code == 200
    [c] = mine(cast.debbie)
    assert (c["state"], c["outcome"]) == ("resolved", "")


@pytest.mark.parametrize("who", ["other_manager", "far_manager", "anna"])
def test_only_the_providers_manager_writes_the_outcome(cast, frozen_clock, who):
    alert = raise_concern(cast, cast.debbie)
    r = post(
        client_for(getattr(cast, who)),
        f"/api/alerts/{alert.id}/resolve",
        {"outcome": "x", "raiser_outcome": "y"},
    )
    assert r.status_code == 404
    assert Alert.objects.get().state == "open"


def test_a_family_member_whose_access_ended_sees_nothing_more(cast, frozen_clock):
    raise_concern(cast, cast.debbie)
    assert len(mine(cast.debbie)) == 1
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    assert mine(cast.debbie) == []
