"""The alerts API: inbox, raise a concern, ack/resolve, and the council's narrow view."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from escalation.models import Alert, Flag
from rooms.models import AuditEvent
from tests.escalation.helpers import drain, say


def client_for(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


def post(c, url, data):
    return c.post(url, json.dumps(data), content_type="application/json")


def test_anyone_who_can_read_a_message_can_raise_a_concern_once(cast, frozen_clock):
    m = say(cast.debbie, cast.family, "Mum sounded different on the phone")
    c = client_for(cast.debbie)
    r = post(
        c,
        "/api/alerts/concerns",
        {"message_id": m.id, "reason": "Not herself", "concern": "confusion"},
    )
    assert r.status_code == 201, r.content
    again = post(c, "/api/alerts/concerns", {"message_id": m.id, "reason": "Not herself"})
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    f = Flag.objects.get()
    assert (f.raised_by_id, f.source, f.concern, f.alert.concern) == (
        cast.debbie.id,
        "explicit",
        "confusion",
        "confusion",
    )
    # The care worker raising the same message is a second flag on the same alert.
    r = post(
        client_for(cast.anna),
        "/api/alerts/concerns",
        {"message_id": m.id, "reason": "Agree", "concern": "confusion"},
    )
    assert r.status_code == 201
    assert Alert.objects.count() == 1
    assert Flag.objects.count() == 2


@pytest.mark.parametrize("who", ["nadia", "colin", "outsider_worker"])
def test_people_who_cannot_read_the_message_cannot_raise_on_it(cast, who):
    m = say(cast.debbie, cast.family, "Mum sounded different")
    r = post(
        client_for(getattr(cast, who)), "/api/alerts/concerns", {"message_id": m.id, "reason": "x"}
    )
    assert r.status_code == 404
    assert not Flag.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"message_id": 1, "reason": ""},
        {"message_id": 1, "reason": "x", "concern": "gossip"},
        {"message_id": 1, "reason": "x", "urgent": True},
    ],
)
def test_bad_concern_bodies_are_422_with_a_reason(cast, body):
    r = post(client_for(cast.anna), "/api/alerts/concerns", body)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid"


def test_manager_inbox_view_ack_and_resolve(cast, frozen_clock):
    say(cast.debbie, cast.family, "Mum was on the floor when I rang this morning")
    drain()
    c = client_for(cast.carol)
    inbox = c.get("/api/alerts").json()
    assert [(a["concern"], a["state"]) for a in inbox] == [("falls", "open")]
    aid = inbox[0]["id"]
    view = c.get(f"/api/alerts/{aid}").json()
    assert view["flags"][0]["context"][0]["body"].startswith("Mum was on the floor")
    assert [e["kind"] for e in view["timeline"]][:2] == ["opened", "step"]
    assert c.post(f"/api/alerts/{aid}/ack").json()["alert"]["state"] == "acknowledged"
    r = post(c, f"/api/alerts/{aid}/resolve", {"outcome": ""})
    assert r.status_code == 422
    r = post(c, f"/api/alerts/{aid}/resolve", {"outcome": "Visited: bruised knee, GP informed"})
    assert r.json()["alert"]["state"] == "resolved"
    assert post(c, f"/api/alerts/{aid}/resolve", {"outcome": "x"}).status_code == 409


@pytest.mark.parametrize("who", ["anna", "debbie", "other_manager", "colin"])
def test_others_cannot_see_or_act_on_a_provider_alert(cast, frozen_clock, who):
    say(cast.anna, cast.team, "She fell")
    drain()
    aid = Alert.objects.get().id
    c = client_for(getattr(cast, who))
    assert c.get("/api/alerts").json() == []
    assert c.get(f"/api/alerts/{aid}").status_code == 404
    assert c.post(f"/api/alerts/{aid}/ack").status_code == 404
    assert Alert.objects.get().state == "open"


def test_council_sees_escalated_alerts_with_a_small_audited_context_window(cast, frozen_clock):
    for i in range(6):
        say(cast.anna, cast.team, f"Routine note {i}")
    flagged = say(cast.anna, cast.team, "Her son took her bank card again")
    for i in range(4):
        say(cast.nadia, cast.team, f"Later note {i}")
    drain()
    alert = Alert.objects.get()
    assert alert.severity == "safeguarding"
    assert alert.council_notified_at is not None
    c = client_for(cast.colin)
    assert [a["id"] for a in c.get("/api/alerts").json()] == [alert.id]
    audit_before = AuditEvent.objects.filter(actor=cast.colin).count()
    view = c.get(f"/api/alerts/{alert.id}").json()
    bodies = [m["body"] for m in view["flags"][0]["context"]]
    assert bodies == [
        "Routine note 4",
        "Routine note 5",
        "Her son took her bank card again",
        "Later note 0",
        "Later note 1",
    ]
    actions = list(
        AuditEvent.objects.filter(actor=cast.colin).order_by("id").values_list("action", "target")
    )[audit_before:]
    assert ("alert.read", f"alert:{alert.id}") in actions
    assert ("alert.context_read", f"message:{flagged.id}") in actions
    # Read-only: the council cannot acknowledge, and has no room access.
    assert c.post(f"/api/alerts/{alert.id}/ack").status_code == 404
    assert c.get(f"/api/rooms/{cast.team.id}/messages").status_code == 404


def test_council_of_another_area_sees_nothing(cast, frozen_clock):
    from rooms.models import Organisation, Person

    other = Organisation.objects.create(name="Southshire", kind="council")
    stranger = Person.objects.create(
        user=None, display_name="S", role="commissioner", organisation=other
    )
    say(cast.anna, cast.team, "He hit her")
    drain()
    from escalation.access import access_alert, visible_alerts
    from rooms.errors import NotFound

    assert not visible_alerts(stranger).exists()
    with pytest.raises(NotFound):
        access_alert(stranger, Alert.objects.get().id)


def test_unescalated_alerts_are_not_visible_to_the_council(cast, frozen_clock):
    say(cast.anna, cast.team, "She fell")
    drain()
    assert client_for(cast.colin).get("/api/alerts").json() == []
