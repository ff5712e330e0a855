"""End to end through real sockets: the daughter writes in the family room, the care
manager's open websocket receives the alert (Daphne subprocess with in-process workers)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from escalation.models import Alert
from tests.support.cast import PASSWORD, build_cast
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import port_open, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server():
    cast = build_cast()
    # Embedded default: SQLite + in-memory layer. With PostgreSQL, go through Redis too.
    redis = connection.vendor == "postgresql" and port_open("127.0.0.1", 6379)
    srv = ServerProcess(subprocess_env(redis=redis), with_workers=True).start()
    yield srv, cast
    srv.stop()


async def connect(srv: ServerProcess, username: str) -> WsClient:
    cookies = await asyncio.to_thread(login_cookies, srv.url, username, PASSWORD)
    client = await WsClient(srv.ws_url, cookies).connect()
    await client.expect("hello")
    return client


async def test_family_message_reaches_the_care_managers_socket_as_an_alert(server):
    srv, cast = server
    carol = await connect(srv, "carol")
    debbie = await connect(srv, "debbie")
    anna = await connect(srv, "anna")
    await debbie.send(
        {
            "type": "send",
            "room": cast.family.id,
            "client_id": "d-1",
            "body": "Mum was on the floor when I rang this morning",
        }
    )
    await debbie.expect("ack", client_id="d-1")
    event = await carol.expect("alert", timeout=20)
    alert = await database_sync_to_async(Alert.objects.get)()
    assert event == {"type": "alert", "alert": alert.id, "state": "open", "severity": "high"}
    assert alert.concern == "falls"
    # Acknowledge from the chat: the manager's inbox follows the state change.
    await carol.send({"type": "send", "room": cast.team.id, "client_id": "c-1", "body": "ack"})
    await carol.expect("alert", state="acknowledged", timeout=20)
    # Neither the daughter nor the care worker got alert events.
    for other in (debbie, anna):
        with pytest.raises(TimeoutError):
            await other.expect("alert", timeout=0.5)
    for c in (carol, debbie, anna):
        await c.close()
