"""Rate limits on sign-in, invitations (adding members) and message sends, with clear errors:
HTTP 429 ``{"error": "rate_limited", ...}`` and websocket error frames code ``rate_limited``.
Nothing over the limit is written; a cache outage fails open."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.test import Client

from rooms import ratelimit
from rooms.errors import RateLimited
from rooms.models import Membership, Message, Person, Role
from tests.security.helpers import client_for, fresh_window, set_limit
from tests.support.asgi import expect, send, ws_connect
from tests.support.cast import PASSWORD, build_cast


def test_http_sends_over_the_limit_get_429_and_write_nothing(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_sends", 5)
    c = client_for(cast.anna)
    url = f"/api/rooms/{cast.team.id}/messages"
    codes = [c.post(url, {"client_id": f"r{i}", "body": "hi"},
                    content_type="application/json").status_code for i in range(7)]
    assert codes == [201] * 5 + [429] * 2
    r = c.post(url, {"client_id": "r9", "body": "hi"}, content_type="application/json")
    assert r.json()["error"] == "rate_limited" and "try again in" in r.json()["message"]
    assert Message.objects.filter(room=cast.team, client_id__startswith="r").count() == 5
    # Per person: another member is not affected.
    assert client_for(cast.nadia).post(url, {"client_id": "n1", "body": "hi"},
                                       content_type="application/json").status_code == 201


@pytest.mark.django_db(transaction=True)
async def test_websocket_sends_over_the_limit_get_a_rate_limited_error_frame(monkeypatch):
    cast = await sync_to_async(build_cast)()
    fresh_window()
    set_limit(monkeypatch, "rate_limit_sends", 3)
    comm, hello = await ws_connect(cast.anna)
    assert hello["type"] == "hello"
    for i in range(3):
        await send(comm, {"type": "send", "room": cast.team.id, "client_id": f"w{i}",
                          "body": "hello"})
        await expect(comm, "ack", client_id=f"w{i}")
    await send(comm, {"type": "send", "room": cast.team.id, "client_id": "w3", "body": "x"})
    err = await expect(comm, "error", client_id="w3")
    assert err["code"] == "rate_limited" and "too fast" in err["message"]
    await comm.disconnect()
    assert await sync_to_async(Message.objects.filter(client_id__startswith="w").count)() == 3


def test_failed_sign_ins_are_limited_per_account_and_successes_are_not(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_login_failures", 3)
    c = Client()
    bad = [c.post("/login/", {"username": "anna", "password": "wrong"}).status_code
           for _ in range(4)]
    assert bad[:3] == [200] * 3 and bad[3] == 429
    r = c.post("/login/", {"username": "anna", "password": PASSWORD})
    assert r.status_code == 429  # even the right password: the account is locked for now
    assert r.json()["error"] == "rate_limited" and int(r["Retry-After"]) > 0
    # Another account is not locked; successful sign-ins never count.
    for _ in range(5):
        ok = Client().post("/login/", {"username": "nadia", "password": PASSWORD})
        assert ok.status_code == 302


def test_adding_members_is_limited_per_manager(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_invites", 2)
    people = [Person.objects.create(display_name=f"Temp {i}", role=Role.CARE_WORKER,
                                    organisation=cast.provider) for i in range(3)]
    c = client_for(cast.carol)
    codes = [c.post(f"/api/rooms/{cast.team.id}/members", {"person_id": p.id},
                    content_type="application/json").status_code for p in people]
    assert codes == [201, 201, 429]
    assert not Membership.objects.filter(person=people[2]).exists()


def test_windows_are_fixed_and_end(cast, monkeypatch, frozen_clock):
    set_limit(monkeypatch, "rate_limit_sends", 2)
    start = fresh_window()
    start = start.replace(second=0)
    ratelimit.hit("send", "k", start)
    ratelimit.hit("send", "k", start)
    with pytest.raises(RateLimited):
        ratelimit.hit("send", "k", start)
    import datetime as dt
    assert ratelimit.hit("send", "k", start + dt.timedelta(seconds=60)) == 1


def test_a_cache_outage_fails_open(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_sends", 1)

    class Down:
        def __getattr__(self, name):
            def fail(*a, **k):
                raise ConnectionError("redis down")
            return fail

    monkeypatch.setattr(ratelimit, "cache", Down())
    c = client_for(cast.anna)
    for i in range(3):
        assert c.post(f"/api/rooms/{cast.team.id}/messages", {"client_id": f"o{i}", "body": "x"},
                      content_type="application/json").status_code == 201


def test_a_limit_of_zero_turns_the_scope_off(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_sends", 0)
    for _ in range(5):
        assert ratelimit.hit("send", "off") == 0
