"""The HTTP API: same write path, clear errors for bad bodies, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from rooms.models import Message, PushDevice


@pytest.fixture
def anna(cast):
    c = Client(raise_request_exception=False)
    c.force_login(cast.anna.user)
    return c


def post_json(c, url, body, **kw):
    return c.post(url, body, content_type="application/json", **kw)


def test_post_then_read_history_with_pagination(cast, anna):
    for i in range(5):
        r = post_json(
            anna,
            f"/api/rooms/{cast.team.id}/messages",
            {"client_id": f"c{i}", "body": f"visit note {i}"},
        )
        assert r.status_code == 201 and r.json()["seq"] == i + 1
    page = anna.get(f"/api/rooms/{cast.team.id}/messages?after_seq=1&limit=2").json()
    assert [m["seq"] for m in page["messages"]] == [2, 3]
    assert page["more"] is True and page["head_seq"] == 5


def test_http_retry_with_the_same_client_id_returns_the_same_message(cast, anna):
    url = f"/api/rooms/{cast.team.id}/messages"
    a = post_json(anna, url, {"client_id": "retry-1", "body": "Arrived"})
    b = post_json(anna, url, {"client_id": "retry-1", "body": "Arrived"})
    assert (a.status_code, b.status_code) == (201, 200)
    assert a.json()["id"] == b.json()["id"] and b.json()["duplicate"] is True
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"body": "no client id"}, "client_id"),
        ({"client_id": "a", "body": "x", "admin": True}, "admin"),
        ({"client_id": "a", "body": ""}, "empty"),
        ({"client_id": "a", "body": 12}, "body"),
        ({"client_id": "a" * 65, "body": "x"}, "client_id"),
        ({"client_id": "a", "kind": "system", "body": "x"}, "kind"),
        ({"client_id": "a", "body": "x", "reply_to": 77}, "reply_to"),
        (
            {"client_id": "a", "kind": "answer", "payload": {"card_id": "c", "value": "high"}},
            "value",
        ),
        (
            {"client_id": "a", "body": "x", "payload": {"a": {"b": {"c": {"d": [[[[1]]]]}}}}},
            "payload",
        ),
    ],
)
def test_bad_bodies_get_a_clear_422_and_nothing_is_written(cast, anna, body, fragment):
    r = post_json(anna, f"/api/rooms/{cast.team.id}/messages", body)
    assert r.status_code == 422, r.content
    assert r.json()["error"] == "invalid" and fragment in r.json()["message"]
    assert Message.objects.count() == 0


@pytest.mark.parametrize("raw", ["{", "null", "[1,2]", '"text"', "\xff\xfe"])
def test_malformed_json_is_a_4xx_not_a_500(cast, anna, raw):
    r = anna.post(f"/api/rooms/{cast.team.id}/messages", raw, content_type="application/json")
    assert 400 <= r.status_code < 500
    assert Message.objects.count() == 0


def test_unauthenticated_requests_are_401(cast):
    r = Client().get("/api/rooms")
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"


def test_csrf_is_enforced_for_session_posts(cast):
    c = Client(enforce_csrf_checks=True)
    c.force_login(cast.anna.user)
    r = post_json(c, f"/api/rooms/{cast.team.id}/messages", {"client_id": "a", "body": "x"})
    assert r.status_code in (401, 403)
    assert Message.objects.count() == 0


def test_key_info_is_for_staff_and_the_person_not_family(cast, anna):
    r = anna.get(f"/api/service-users/{cast.peggy.id}")
    assert r.status_code == 200 and r.json()["access_notes"] == "Key safe code 4411"
    debbie = Client()
    debbie.force_login(cast.debbie.user)
    assert debbie.get(f"/api/service-users/{cast.peggy.id}").status_code == 404
    colin = Client()
    colin.force_login(cast.colin.user)
    assert colin.get(f"/api/service-users/{cast.peggy.id}").status_code == 404


def test_care_manager_adds_and_removes_members(cast):
    carol = Client()
    carol.force_login(cast.carol.user)
    url = f"/api/rooms/{cast.team.id}/members"
    assert post_json(carol, url, {"person_id": cast.outsider_worker.id}).status_code == 201
    names = [m["name"] for m in carol.get(url).json()]
    assert "Olly Unassigned" in names
    assert carol.delete(f"{url}/{cast.outsider_worker.id}").status_code == 204
    assert "Olly Unassigned" not in [m["name"] for m in carol.get(url).json()]
    # A family member can never be put in the team room: refused like an unknown id.
    r = post_json(carol, url, {"person_id": cast.debbie.id})
    assert r.status_code == 404


def test_push_device_registration_is_idempotent_on_the_token(cast, anna):
    body = {"token": "fcm-token-abcdef-123", "platform": "android"}
    a = post_json(anna, "/api/push-devices", body)
    b = post_json(anna, "/api/push-devices", body)
    assert (a.status_code, b.status_code) == (201, 200)
    assert PushDevice.objects.count() == 1
    assert anna.delete(f"/api/push-devices/{a.json()['id']}").status_code == 204
    assert PushDevice.objects.get().active is False


def test_openapi_schema_is_served(cast, anna):
    spec = anna.get("/api/openapi.json").json()
    assert "/api/rooms/{room_id}/messages" in spec["paths"]


def test_absurdly_deep_json_is_refused_cleanly(cast, anna):
    raw = '{"client_id": "a", "body": "x", "payload": ' + "[" * 50_000 + "]" * 50_000 + "}"
    r = anna.post(f"/api/rooms/{cast.team.id}/messages", raw, content_type="application/json")
    assert 400 <= r.status_code < 500
    assert Message.objects.count() == 0


def test_a_lost_database_connection_is_a_503_to_retry_not_a_500(cast, anna, monkeypatch):
    from django.db import OperationalError

    import rooms.api

    def lost(*a, **k):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(rooms.api, "check_post_message", lost)
    r = post_json(anna, f"/api/rooms/{cast.team.id}/messages", {"client_id": "a", "body": "x"})
    assert r.status_code == 503
    assert r["Retry-After"] == "2" and r.json()["error"] == "unavailable"
