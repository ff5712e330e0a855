"""Revoking one daughter's lawful basis from the members page stops her socket at once.

Issue 14, "Done means" 3, through real Daphne processes: Debbie (Peggy's daughter) and
her brother Dan each have their own basis and an open, subscribed socket. Carol revokes
Debbie's basis on the members page (a real form POST with her session and CSRF token).
Within a second Debbie's socket is told the room is gone and receives nothing more; Dan,
with his own basis, keeps receiving. On PostgreSQL with Redis (phase 2) the page is served
by a second Daphne process, so the hint crosses processes through Redis.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest
from django.db import connection

from rooms.models import AuditEvent, FamilyBasis, Role
from rooms.network import do_add_member, do_record_family_basis
from tests.support.cast import PASSWORD, build_cast, person
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import port_open, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _services() -> bool:
    up = connection.vendor == "postgresql" and port_open("127.0.0.1", 6379)
    if os.environ.get("COCARE_REQUIRE_SERVICES") == "1":
        assert up, "phase 2 needs PostgreSQL and Redis"
    return up


def _revoke_on_the_members_page(base: str, cookies: dict[str, str], su: int, who: int) -> float:
    """Carol presses "Stop sharing" for one member; returns when the response arrived."""
    with httpx.Client(base_url=base, cookies=cookies, timeout=20) as http:
        page = http.get(f"/people/{su}/manage/members/")
        assert page.status_code == 200
        assert f"/people/{su}/manage/members/{who}/revoke".encode() in page.content
        r = http.post(
            f"/people/{su}/manage/members/{who}/revoke",
            data={"csrfmiddlewaretoken": cookies["csrftoken"]},
        )
        done = time.monotonic()
    assert r.status_code == 302, r.text[:500]
    return done


def test_revoking_the_daughters_basis_stops_her_socket_within_a_second_not_her_brothers():
    cast = build_cast()
    dan = person("dan", "Dan Hughes", Role.FAMILY, None)
    do_record_family_basis(cast.peggy, dan, "consent", by=cast.carol, notes="Peggy agreed")
    do_add_member(cast.family, dan, by=cast.carol, notify=False)
    family = cast.family.id
    redis = _services()
    sockets = ServerProcess(subprocess_env(redis=redis)).start()
    pages = ServerProcess(subprocess_env(redis=True)).start() if redis else sockets
    try:
        cookies = {
            who: login_cookies(sockets.url, who, PASSWORD) for who in ("debbie", "dan", "anna")
        }
        carol = login_cookies(pages.url, "carol", PASSWORD)

        async def scenario() -> dict:
            clients = {}
            for who in ("debbie", "dan", "anna"):
                c = await WsClient(sockets.ws_url, cookies[who]).connect()
                await c.expect("hello")
                await c.send({"type": "subscribe", "room": family})
                await c.expect("subscribed", room=family)
                clients[who] = c
            anna = clients["anna"]
            await anna.send({"type": "send", "room": family, "client_id": "b1", "body": "before"})
            for who in ("debbie", "dan"):
                await clients[who].expect("message", room=family, body="before")
            done = await asyncio.to_thread(
                _revoke_on_the_members_page, pages.url, carol, cast.peggy.id, cast.debbie.id
            )
            await clients["debbie"].expect("revoked", timeout=1.0, room=family)
            told_after = time.monotonic() - done
            await anna.send({"type": "send", "room": family, "client_id": "b2", "body": "after"})
            await clients["dan"].expect("message", room=family, body="after")
            # Debbie's socket stays quiet: nothing from the room after it was revoked.
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                try:
                    await clients["debbie"].recv(max(0.05, deadline - time.monotonic()))
                except TimeoutError:
                    break
            await clients["debbie"].send(
                {"type": "send", "room": family, "client_id": "d1", "body": "x"}
            )
            refused = await clients["debbie"].expect("error")
            for c in clients.values():
                await c.close()
            return {
                "told_after": told_after,
                "debbie": [f.get("body") for f in clients["debbie"].messages(family)],
                "dan": [f.get("body") for f in clients["dan"].messages(family)],
                "refused": refused,
            }

        out = asyncio.run(scenario())
    finally:
        sockets.stop()
        if pages is not sockets:
            pages.stop()
    assert out["told_after"] < 1.0
    assert "before" in out["debbie"] and "after" not in out["debbie"]
    assert "before" in out["dan"] and "after" in out["dan"]
    assert out["refused"]["code"] == "not_found"
    fb = FamilyBasis.objects.get(service_user=cast.peggy, person=cast.debbie)
    assert fb.revoked_at is not None and fb.revoked_by == cast.carol
    assert FamilyBasis.objects.get(person=dan).revoked_at is None
    assert AuditEvent.objects.filter(
        action="family_basis.revoke", actor=cast.carol, target=f"person:{cast.debbie.id}"
    ).exists()
