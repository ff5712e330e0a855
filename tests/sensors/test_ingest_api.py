"""POST /api/sensors/events: token-only authentication, all-or-nothing validation, each
event stored once as a signal in the team room, nothing for the family unless agreed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from rooms.models import Message
from sensors.actions import ProfileIn, do_deactivate_hub, do_rotate_token, do_set_profile
from sensors.models import SensorEvent, SensorHub
from tests.security.helpers import client_for, set_limit
from tests.sensors.helpers import ev, freeze_local, make_hub, other_tenant, send

pytestmark = pytest.mark.django_db

MIN = dt.timedelta(minutes=1)


@pytest.fixture
def hub(cast):
    freeze_local("14:00")
    return make_hub(cast.peggy)


def written() -> tuple[int, int]:
    return Message.objects.count(), SensorEvent.objects.count()


def test_a_batch_is_stored_once_as_signals_in_the_team_room_only(cast, hub):
    h, token = hub
    before = Message.objects.count()
    events = [
        ev("pir-hall", "motion", 2, event_id="m1"),
        ev("door-front", "door", 1, event_id="d1"),
    ]
    r = send(token, events)
    assert r.status_code == 201, r.content
    assert r.json() == {
        "stored": 2,
        "duplicates": 0,
        "results": [
            {"device_id": "pir-hall", "event_id": "m1", "status": "stored"},
            {"device_id": "door-front", "event_id": "d1", "status": "stored"},
        ],
    }
    new = list(Message.objects.order_by("id")[before:])
    assert [(m.room_id, m.kind, m.body) for m in new] == [(cast.team.id, "signal", "")] * 2
    data = new[0].payload["data"]
    assert new[0].payload["signal"] == "sensor"
    assert data["kind"] == "motion" and data["value"] == 2 and data["location"] == "Hall"
    assert data["device"] == "pir-hall" and data["hub"] == h.id and data["event_id"] == "m1"
    assert not Message.objects.filter(room=cast.family, id__gt=new[0].id - 1).exists()
    h.refresh_from_db()
    assert h.last_seen_at is not None


def test_a_replayed_batch_stores_nothing_and_answers_duplicate(cast, hub):
    _, token = hub
    events = [ev("pir-hall", "motion", event_id="m1"), ev("bed-1", "bed", 0, event_id="b1")]
    assert send(token, events).status_code == 201
    before = written()
    again = send(token, [*events, ev("pir-hall", "motion", event_id="m2")])
    assert again.status_code == 201
    assert [x["status"] for x in again.json()["results"]] == ["duplicate", "duplicate", "stored"]
    assert written() == (before[0] + 1, before[1] + 1)
    replay = send(token, events)
    assert replay.status_code == 200 and replay.json()["duplicates"] == 2
    assert written() == (before[0] + 1, before[1] + 1)


def test_every_bad_token_gets_the_same_401_and_nothing_is_written(cast, hub):
    h, token = hub
    old = token
    new_token = do_rotate_token(h)
    other_hub, other_token = make_hub(cast.peggy, devices=[], name="Spare")
    do_deactivate_hub(other_hub)
    manager = client_for(cast.carol)  # a signed-in session: never a hub token
    attempts = [
        send(None, [ev("pir-hall", "motion")]),
        send(None, [ev("pir-hall", "motion")], auth="Bearer"),
        send(None, [ev("pir-hall", "motion")], auth="Bearer "),
        send(None, [ev("pir-hall", "motion")], auth="Bearer not-a-token"),
        send(None, [ev("pir-hall", "motion")], auth=f"Basic {new_token}"),
        send(None, [ev("pir-hall", "motion")], auth=f"Bearer {new_token[:-1]}"),
        send(None, [ev("pir-hall", "motion")], auth=f"Bearer {new_token}x"),
        send(None, [ev("pir-hall", "motion")], auth="Bearer " + "x" * 5000),
        send(old, [ev("pir-hall", "motion")]),  # rotated away
        send(other_token, [ev("pir-hall", "motion")]),  # deactivated hub
        send(None, [ev("pir-hall", "motion")], client=manager),
        send(None, raw="{not json", client=manager),
    ]
    assert {r.status_code for r in attempts} == {401}
    assert {r.content for r in attempts} == {attempts[0].content}
    assert attempts[0].json() == {
        "error": "unauthenticated",
        "message": "A valid sensor hub token is required.",
    }
    assert SensorEvent.objects.count() == 0
    assert send(new_token, [ev("pir-hall", "motion")]).status_code == 201
    assert not SensorHub.objects.filter(token_hash__in=[old, new_token]).exists()


def test_another_hubs_device_is_no_such_device_and_nothing_is_written(cast, hub):
    _, token = hub
    south = other_tenant()
    make_hub(south.stan, devices=[{"device_id": "stan-pendant", "kind": "pendant"}])
    before = written()
    r = send(token, [ev("pir-hall", "motion"), ev("stan-pendant", "pendant")])
    assert r.status_code == 422
    assert r.json() == {
        "error": "invalid",
        "message": "events.1.device_id: no such device on this hub",
    }
    assert written() == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (
            '{"events": [{"device_id": "pir-hall", "event_id": "e1", "kind": "motion", '
            '"value": NaN, "occurred_at": "2030-01-01T00:00:00Z"}]}',
            "value",
        ),
        (
            '{"events": [{"device_id": "pir-hall", "event_id": "e1", "kind": "motion", '
            '"value": Infinity, "occurred_at": "2030-01-01T00:00:00Z"}]}',
            "value",
        ),
        (
            '{"events": [{"device_id": "pir-hall", "event_id": "e1", "kind": "motion", '
            '"value": 1e999, "occurred_at": "2030-01-01T00:00:00Z"}]}',
            "value",
        ),
        (
            '{"events": [{"device_id": "pir-hall", "event_id": "e1", "kind": "motion", '
            '"value": 1' + "0" * 40 + ', "occurred_at": "2030-01-01T00:00:00Z"}]}',
            "value",
        ),
        (
            '{"events": [{"device_id": "pir-hall", "event_id": 123456789012345678901234567890, '
            '"kind": "motion", "value": 1, "occurred_at": "2030-01-01T00:00:00Z"}]}',
            "event_id",
        ),
        ('{"events": "all of them"}', "events"),
        ("[1, 2, 3]", ""),
        ('{"events": [{"device_id": "pir-hall"', ""),
    ],
)
def test_non_finite_huge_and_malformed_json_is_refused_and_nothing_written(hub, raw, field):
    _, token = hub
    before = written()
    r = send(token, raw=raw)
    assert 400 <= r.status_code < 500, r.content
    assert r.json()["error"] in ("invalid", "bad_request")
    assert field in r.json()["message"]
    assert written() == before


def odd_events(now: dt.datetime) -> list[tuple[str, dict, str]]:
    good = ev("pir-hall", "motion", 1, event_id="ok-1")
    return [
        ("far future", good | {"occurred_at": "2999-01-01T00:00:00+00:00"}, "occurred_at"),
        ("far past", good | {"occurred_at": "1970-01-01T00:00:00+00:00"}, "occurred_at"),
        ("year one", good | {"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
        ("no zone", good | {"occurred_at": "2030-01-01T00:00:00"}, "occurred_at"),
        ("ten minutes ahead", good | {"occurred_at": (now + 10 * MIN).isoformat()}, "occurred_at"),
        (
            "eight days old",
            good | {"occurred_at": (now - dt.timedelta(days=8)).isoformat()},
            "occurred_at",
        ),
        ("negative", good | {"value": -1}, "value"),
        ("door half open", ev("door-front", "door", 0.5), "value"),
        ("pendant twice", ev("pendant-1", "pendant", 2), "value"),
        ("huge", good | {"value": 10**30}, "value"),
        ("a bool", good | {"value": True}, "value"),
        ("a string", good | {"value": "1"}, "value"),
        ("cyrillic a", good | {"device_id": "pir-h\u0430ll"}, "device_id"),
        ("fullwidth", good | {"device_id": "\uff50ir-hall"}, "device_id"),
        ("zero width", good | {"device_id": "pir-hall\u200b"}, "device_id"),
        ("newline", good | {"device_id": "pir-hall\n"}, "device_id"),
        ("rtl override", good | {"event_id": "e\u202e1"}, "event_id"),
        ("nul", good | {"event_id": "e\x001"}, "event_id"),
        ("long id", good | {"event_id": "e" * 101}, "event_id"),
        ("empty id", good | {"event_id": ""}, "event_id"),
        ("wrong kind", good | {"kind": "door"}, "kind"),
        ("unknown kind", good | {"kind": "smoke"}, "kind"),
        ("extra field", good | {"room": 1}, "room"),
        ("missing field", {k: v for k, v in good.items() if k != "kind"}, "kind"),
    ]


@pytest.mark.parametrize("case", range(24))
def test_an_odd_event_is_refused_with_its_field_named_and_nothing_written(hub, case):
    from cocare_chat import clock

    _, token = hub
    name, bad, field = odd_events(clock.now())[case]
    before = written()
    # The odd event second: the good first one must not be written either (all or nothing).
    r = send(token, [ev("bed-1", "bed", 0, event_id="good-first"), bad])
    assert r.status_code == 422, (name, r.content)
    body = r.json()
    assert body["error"] == "invalid"
    assert f"events.1.{field}" in body["message"], (name, body)
    assert written() == before, name


def test_empty_and_oversized_batches_are_refused(hub):
    _, token = hub
    assert send(token, []).status_code == 422
    many = [ev("pir-hall", "motion", event_id=f"m{i}") for i in range(201)]
    r = send(token, many)
    assert r.status_code == 422 and "events" in r.json()["message"]
    assert SensorEvent.objects.count() == 0


def test_a_hub_over_its_rate_limit_gets_429_and_another_hub_is_unaffected(cast, hub, monkeypatch):
    _, token = hub
    set_limit(monkeypatch, "rate_limit_sensor_batches", 3)
    codes = [send(token, [ev("pir-hall", "motion")]).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    assert SensorEvent.objects.count() == 3
    _, other = make_hub(cast.peggy, name="Second hub")
    assert send(other, [ev("pir-hall", "motion")]).status_code == 201


def test_the_family_room_hears_of_a_pendant_press_only_if_the_person_agreed(cast, hub):
    _, token = hub
    family_before = Message.objects.filter(room=cast.family).count()
    send(
        token,
        [ev("pendant-1", "pendant", 1, event_id="p1"), ev("door-front", "door", 1, event_id="d1")],
    )
    assert Message.objects.filter(room=cast.family).count() == family_before

    do_set_profile(cast.peggy, ProfileIn(family_notices=["pendant"]))
    send(
        token,
        [
            ev("pendant-1", "pendant", 1, event_id="p2"),
            ev("pendant-1", "pendant", 0, event_id="p2-cancel"),
            ev("door-front", "door", 1, event_id="d2"),
            ev("pir-hall", "motion", 1, event_id="m2"),
        ],
    )
    new = list(Message.objects.filter(room=cast.family).order_by("seq")[family_before:])
    assert [(m.kind, m.body) for m in new] == [
        ("system", "Pendant pressed at 14:00 \u2014 the care team has been alerted.")
    ]
    assert new[0].payload == {"event": "sensor.family_notice", "data": {"notice": "pendant"}}
    send(token, [ev("pendant-1", "pendant", 1, event_id="p2")])  # replay: no second notice
    assert Message.objects.filter(room=cast.family).count() == family_before + 1


def test_set_up_is_for_the_persons_provider_managers_and_the_token_is_shown_once(cast):
    freeze_local("09:00")
    south = other_tenant()
    body = {
        "service_user": cast.peggy.id,
        "name": "Peggy's hub",
        "devices": [{"device_id": "pir-1", "kind": "motion", "location": "Hall"}],
    }
    refusals = [
        client_for(p).post("/api/sensors/hubs", body, content_type="application/json")
        for p in (cast.other_manager, south.manager, cast.anna, cast.nadia, cast.debbie, cast.colin)
    ]
    assert {r.status_code for r in refusals} == {404}
    assert {r.content for r in refusals} == {refusals[0].content}
    assert SensorHub.objects.count() == 0

    carol = client_for(cast.carol)
    r = carol.post("/api/sensors/hubs", body, content_type="application/json")
    assert r.status_code == 201
    token = r.json()["token"]
    listed = carol.get(f"/api/sensors/service-users/{cast.peggy.id}")
    assert listed.status_code == 200 and token not in listed.content.decode()
    assert listed.json()["profile"]["family_notices"] == []  # default: nothing shared
    hub = SensorHub.objects.get()
    assert token not in (hub.token_hash, hub.name) and len(hub.token_hash) == 64
    assert send(token, [ev("pir-1", "motion")]).status_code == 201

    r = carol.put(
        f"/api/sensors/service-users/{cast.peggy.id}/profile",
        {"family_notices": ["pendant", "diary"]},
        content_type="application/json",
    )
    assert r.status_code == 422 and "family_notices" in r.json()["message"]
    r = carol.put(
        f"/api/sensors/service-users/{cast.peggy.id}/profile",
        {"family_notices": ["pendant"], "movement_expected_by": "09:30"},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["family_notices"] == ["pendant"]
    assert Client().get(f"/api/sensors/service-users/{cast.peggy.id}").status_code == 401
