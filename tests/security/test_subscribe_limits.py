"""Subscribe frames are limited per socket and cannot amplify (issue 11, finding 8).

On main, 2,000 subscribe frames wrote 2,000 append-only audit rows and replayed the room
2,000 times (the server busy for a minute), and 50 re-subscribes from seq 0 sent 33,000
frames. Now: a subscribe to a room the socket already follows replays nothing, the audit
row is written once per socket and room, and over the per-socket limit a subscribe gets an
``error`` frame ``rate_limited`` with ``retry_after`` and costs nothing. Through a real
Daphne process over a real socket; the socket stays usable (a send is still acknowledged).
"""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from rooms.messages import check_post_message
from rooms.models import AuditEvent
from rooms.socket import SUBSCRIBE_BURST
from tests.support.cast import PASSWORD, build_cast
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import port_open, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HISTORY = 30


@pytest.fixture
def server():
    cast = build_cast()
    for i in range(HISTORY):
        check_post_message(
            person=cast.anna, room_id=cast.team.id, body=f"note {i}", client_id=f"h{i}"
        )
    redis = connection.vendor == "postgresql" and port_open("127.0.0.1", 6379)
    srv = ServerProcess(subprocess_env(redis=redis)).start()
    yield srv, cast
    srv.stop()


async def _connect(srv: ServerProcess, username: str) -> WsClient:
    cookies = await asyncio.to_thread(login_cookies, srv.url, username, PASSWORD)
    client = await WsClient(srv.ws_url, cookies).connect()
    await client.expect("hello")
    return client


def _subscribe_audits(person) -> int:
    return AuditEvent.objects.filter(actor=person, action="room.subscribe").count()


def test_two_thousand_subscribes_write_one_audit_row_replay_once_and_the_socket_still_acks(server):
    srv, cast = server
    head = cast.team.__class__.objects.get(pk=cast.team.id).last_seq

    async def flood() -> WsClient:
        nadia = await _connect(srv, "nadia")
        for i in range(2000):
            await nadia.send(
                {"type": "subscribe", "room": cast.team.id, "after_seq": 0, "ref": f"s{i}"}
            )
        await nadia.send(
            {"type": "send", "room": cast.team.id, "client_id": "after-flood", "body": "still here"}
        )
        await nadia.expect("ack", client_id="after-flood", timeout=30)
        await nadia.expect("message", client_id="after-flood")
        await nadia.close()
        return nadia

    nadia = asyncio.run(flood())
    by_type: dict[str, list[dict]] = {}
    for f in nadia.frames:
        by_type.setdefault(f["type"], []).append(f)
    # One replay of the room (each seq once), plus her own message: no amplification.
    seqs = [f["seq"] for f in by_type.get("message", [])]
    assert seqs == list(range(1, head + 2))
    limited = [f for f in by_type["error"] if f["code"] == "rate_limited"]
    assert len(limited) >= 2000 - 2 * SUBSCRIBE_BURST
    assert all(f["retry_after"] >= 1 and f["room"] == cast.team.id for f in limited)
    assert len(by_type["subscribed"]) + len(limited) == 2000  # every frame answered once
    assert _subscribe_audits(cast.nadia) == 1


def test_unsubscribe_resubscribe_cycles_from_seq_zero_are_bounded_by_the_limit(server):
    srv, cast = server

    async def cycles() -> WsClient:
        tom = await _connect(srv, "tom")
        for i in range(50):
            await tom.send({"type": "unsubscribe", "room": cast.team.id})
            await tom.send(
                {"type": "subscribe", "room": cast.team.id, "after_seq": 0, "ref": f"c{i}"}
            )
        await tom.send({"type": "ping", "ref": "end"})
        await tom.expect("pong", ref="end", timeout=30)
        await tom.close()
        return tom

    tom = asyncio.run(cycles())
    messages = [f for f in tom.frames if f["type"] == "message"]
    replays = len(messages) / HISTORY
    assert replays <= SUBSCRIBE_BURST + 1  # was 50 full replays
    assert any(f["type"] == "error" and f["code"] == "rate_limited" for f in tom.frames)
    assert _subscribe_audits(cast.tom) == 1  # once per socket and room
