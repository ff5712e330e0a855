"""Rate limits on sign-in, invitations (adding members) and message sends, with clear errors:
HTTP 429 ``{"error": "rate_limited", ...}`` and websocket error frames code ``rate_limited``.
Nothing over the limit is written; a cache outage fails open. Sign-in limits key on the
normalised identity and the client address, cover every sign-in form, and reach the
cache only as keyed hashes."""

from __future__ import annotations

import threading

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.db import connection
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
    codes = [
        c.post(
            url, {"client_id": f"r{i}", "body": "hi"}, content_type="application/json"
        ).status_code
        for i in range(7)
    ]
    assert codes == [201] * 5 + [429] * 2
    r = c.post(url, {"client_id": "r9", "body": "hi"}, content_type="application/json")
    assert r.json()["error"] == "rate_limited" and "try again in" in r.json()["message"]
    assert Message.objects.filter(room=cast.team, client_id__startswith="r").count() == 5
    # Per person: another member is not affected.
    assert (
        client_for(cast.nadia)
        .post(url, {"client_id": "n1", "body": "hi"}, content_type="application/json")
        .status_code
        == 201
    )


@pytest.mark.django_db(transaction=True)
async def test_websocket_sends_over_the_limit_get_a_rate_limited_error_frame(monkeypatch):
    cast = await sync_to_async(build_cast)()
    fresh_window()
    set_limit(monkeypatch, "rate_limit_sends", 3)
    comm, hello = await ws_connect(cast.anna)
    assert hello["type"] == "hello"
    for i in range(3):
        await send(
            comm, {"type": "send", "room": cast.team.id, "client_id": f"w{i}", "body": "hello"}
        )
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
    bad = [
        c.post("/login/", {"username": "anna", "password": "wrong"}).status_code for _ in range(4)
    ]
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
    people = [
        Person.objects.create(
            display_name=f"Temp {i}", role=Role.CARE_WORKER, organisation=cast.provider
        )
        for i in range(3)
    ]
    c = client_for(cast.carol)
    codes = [
        c.post(
            f"/api/rooms/{cast.team.id}/members",
            {"person_id": p.id},
            content_type="application/json",
        ).status_code
        for p in people
    ]
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
        assert (
            c.post(
                f"/api/rooms/{cast.team.id}/messages",
                {"client_id": f"o{i}", "body": "x"},
                content_type="application/json",
            ).status_code
            == 201
        )


def test_a_limit_of_zero_turns_the_scope_off(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_sends", 0)
    for _ in range(5):
        assert ratelimit.hit("send", "off") == 0


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
FULLWIDTH_ANNA = "\uff41nna"  # a fullwidth first letter: NFKC makes it "anna"


def fail_sign_ins(n: int, username: str = "anna", path: str = "/login/") -> list[int]:
    return [
        Client().post(path, {"username": username, "password": "wrong"}).status_code
        for _ in range(n)
    ]


def test_a_look_alike_username_cannot_sign_in_once_the_account_is_locked(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_login_failures", 3)
    assert fail_sign_ins(3) == [200] * 3
    # Without the limit this one signs in as anna: the form normalises it first.
    for look_alike in (FULLWIDTH_ANNA, "ANNA", " anna"):
        r = Client().post("/login/", {"username": look_alike, "password": PASSWORD})
        assert r.status_code == 429, look_alike
        assert r.json()["error"] == "rate_limited"


def test_failures_under_a_look_alike_count_against_the_account(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_login_failures", 3)
    assert fail_sign_ins(3, FULLWIDTH_ANNA.upper()) == [200] * 3
    assert Client().post("/login/", {"username": "anna", "password": PASSWORD}).status_code == 429


def test_the_admin_sign_in_is_limited_and_shares_the_count(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_login_failures", 3)
    assert fail_sign_ins(4, path="/admin/login/") == [200, 200, 200, 429]
    r = Client().post("/admin/login/", {"username": "anna", "password": "wrong"})
    assert r.json()["error"] == "rate_limited" and int(r["Retry-After"]) > 0
    # The same account is locked on the app's own form, and the other way round.
    assert Client().post("/login/", {"username": "anna", "password": PASSWORD}).status_code == 429
    assert fail_sign_ins(3, "nadia") == [200] * 3
    assert (
        Client().post("/admin/login/", {"username": "nadia", "password": PASSWORD}).status_code
        == 429
    )


def test_a_browser_gets_a_page_saying_when_to_try_again(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_login_failures", 2)
    fail_sign_ins(2)
    r = Client().post(
        "/login/", {"username": "anna", "password": PASSWORD}, HTTP_ACCEPT=BROWSER_ACCEPT
    )
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert r["Content-Type"].startswith("text/html")
    page = r.content.decode()
    assert "Too many sign-in attempts" in page and "Try again in" in page
    assert 'href="/login/"' in page  # a way back to the form


def test_addresses_in_one_ipv6_64_share_the_per_address_limit(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_login_failures", 1)  # 5 per address
    for i in range(5):
        c = Client(REMOTE_ADDR=f"2001:db8:7:9::{i + 1}")
        assert c.post("/login/", {"username": f"nobody{i}", "password": "x"}).status_code == 200
    r = Client(REMOTE_ADDR="2001:db8:7:9:ffff::1").post(
        "/login/", {"username": "someone-else", "password": "x"}
    )
    assert r.status_code == 429 and "address" in r.json()["message"]
    other = Client(REMOTE_ADDR="2001:db8:7:a::1")
    assert other.post("/login/", {"username": "nadia", "password": PASSWORD}).status_code == 302


def test_sign_ins_in_flight_at_once_cannot_exceed_the_limit(cast, monkeypatch):
    fresh_window()
    set_limit(monkeypatch, "rate_limit_login_failures", 3)
    start = threading.Barrier(8)
    codes: list[int] = []

    def attempt():
        start.wait()
        try:
            codes.append(
                Client().post("/login/", {"username": "anna", "password": "wrong"}).status_code
            )
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(codes) == [200] * 3 + [429] * 5


def test_sign_in_limit_keys_carry_no_username_or_address(cast, monkeypatch):
    fresh_window()
    seen: list[str] = []
    real = ratelimit.cache

    class Recording:
        def __getattr__(self, name):
            method = getattr(real, name)

            def call(key, *a, **kw):
                seen.append(key)
                return method(key, *a, **kw)

            return call

    monkeypatch.setattr(ratelimit, "cache", Recording())
    Client(REMOTE_ADDR="198.51.100.23").post(
        "/login/", {"username": "mallory.unique", "password": "x"}
    )
    assert seen and any(k.startswith("rl:login_user:") for k in seen)
    assert not [k for k in seen if "mallory" in k or "198.51.100.23" in k], seen
