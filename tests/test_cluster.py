"""Two real Daphne processes sharing Redis and PostgreSQL, with real sockets.

Proves the production path: cross-process fan-out, SIGKILL of a process mid-stream with
clients resuming by ``after_seq`` (every client ends with every message exactly once, in
order), and idempotent sends across processes.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async as sync_to_async
from django.db import connection

from rooms.models import Message
from tests.support.cast import PASSWORD, build_cast
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import REDIS_URL, missing, port_open, subprocess_env

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

N = 100
KILL_AFTER = 30


@pytest.fixture
def cluster():
    if connection.vendor != "postgresql":
        missing("PostgreSQL (set COCARE_DATABASE_URL=postgres://...)")
    if not port_open("127.0.0.1", 6379):
        missing(f"Redis at {REDIS_URL}")
    build_cast()
    env = subprocess_env(redis=True)
    a = ServerProcess(env).start()
    b = ServerProcess(env).start()
    yield a, b
    a.stop()
    b.stop()


async def connect(server: ServerProcess, username: str) -> WsClient:
    cookies = await asyncio.to_thread(login_cookies, server.url, username, PASSWORD)
    return await WsClient(server.ws_url, cookies).connect()


async def test_a_message_sent_on_one_process_reaches_members_on_the_other(cluster):
    a, b = cluster
    from rooms.models import Room

    team = await sync_to_async(Room.objects.get)(
        kind="professional", service_user__preferred_name="Peggy"
    )
    anna = await connect(a, "anna")
    nadia = await connect(b, "nadia")
    for c in (anna, nadia):
        await c.send({"type": "subscribe", "room": team.id, "after_seq": 0})
        await c.expect("subscribed")
    await anna.send({"type": "send", "room": team.id, "client_id": "x1", "body": "Across"})
    got = await nadia.expect("message", body="Across")
    assert got["sender"]["name"] == "Anna Kowalski"
    await anna.close()
    await nadia.close()


class Receiver:
    """Collects a room's messages; on a dropped socket, resumes elsewhere by after_seq."""

    def __init__(self, name: str, server: ServerProcess, room: int):
        self.name, self.server, self.room = name, server, room
        self.seqs: list[int] = []
        self.reconnects = 0

    async def run(self, fallback: ServerProcess, want: int) -> None:
        server = self.server
        while not self.seqs or self.seqs[-1] < want:
            try:
                client = await connect(server, self.name)
                after = self.seqs[-1] if self.seqs else 0
                await client.send({"type": "subscribe", "room": self.room, "after_seq": after})
                while not self.seqs or self.seqs[-1] < want:
                    f = json.loads(await asyncio.wait_for(client.ws.recv(), 30))
                    if f.get("type") == "message" and f["room"] == self.room:
                        self.seqs.append(f["seq"])
                await client.close()
            except (websockets.ConnectionClosed, OSError):
                server = fallback
                self.reconnects += 1


async def test_sigkill_mid_stream_loses_and_duplicates_nothing(cluster):
    a, b = cluster
    from rooms.models import Room

    team = await sync_to_async(Room.objects.get)(
        kind="professional", service_user__preferred_name="Peggy"
    )
    receivers = [
        Receiver("nadia", a, team.id),
        Receiver("tom", a, team.id),
        Receiver("carol", b, team.id),
    ]
    tasks = [asyncio.create_task(r.run(b, N)) for r in receivers]
    acked: dict[str, int] = {}
    killed = False
    sender = await connect(a, "anna")
    i = 0
    while i < N:
        cid = f"stream-{i}"
        try:
            await sender.send(
                {"type": "send", "room": team.id, "client_id": cid, "body": f"entry {i}"}
            )
            ack = await sender.expect("ack", client_id=cid, timeout=15)
            acked[cid] = ack["seq"]
            i += 1
        except (websockets.ConnectionClosed, OSError, TimeoutError):
            # The phone's view: no ack, so retry the same client id elsewhere.
            sender = await connect(b, "anna")
        if i == KILL_AFTER and not killed:
            await asyncio.to_thread(a.kill)
            killed = True
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    await sender.close()

    stored = await sync_to_async(
        lambda: list(
            Message.objects.filter(room=team).order_by("seq").values_list("client_id", "seq")
        )
    )()
    assert [c for c, _ in stored] == [f"stream-{k}" for k in range(N)]
    assert [s for _, s in stored] == list(range(1, N + 1))
    for r in receivers:
        assert r.seqs == list(range(1, N + 1)), r.name
    assert receivers[0].reconnects >= 1 and receivers[1].reconnects >= 1


async def test_the_same_client_id_on_two_processes_yields_one_message(cluster):
    a, b = cluster
    from rooms.models import Room

    team = await sync_to_async(Room.objects.get)(
        kind="professional", service_user__preferred_name="Peggy"
    )
    on_a = await connect(a, "anna")
    on_b = await connect(b, "anna")
    frame = {"type": "send", "room": team.id, "client_id": "twice", "body": "Bins out"}
    await asyncio.gather(on_a.send(frame), on_b.send(frame))
    acks = await asyncio.gather(on_a.expect("ack"), on_b.expect("ack"))
    assert acks[0]["id"] == acks[1]["id"]
    assert sorted(x["duplicate"] for x in acks) == [False, True]
    assert await sync_to_async(Message.objects.filter(client_id="twice").count)() == 1
    await on_a.close()
    await on_b.close()
