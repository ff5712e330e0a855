"""A websocket post's fan-out is handed to the event loop without the post's worker
thread waiting for it (rooms.publish.SEND_LOOP): the sender's ack does not wait for the
group send, and the other members still get every entry once, in seq order. Hints are
still published only after commit."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from rooms import publish
from rooms.messages import check_post_message
from tests.support.asgi import expect, send, ws_connect
from tests.support.cast import build_cast

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def acast():
    return await sync_to_async(build_cast)()


async def subscribed(person, room_id: int):
    comm, hello = await ws_connect(person)
    assert hello["type"] == "hello"
    await send(comm, {"type": "subscribe", "room": room_id, "after_seq": 0, "ref": "s"})
    await expect(comm, "subscribed", room=room_id)
    return comm


async def test_acks_do_not_wait_for_the_fan_out_and_members_get_each_entry_once_in_order(
    acast, monkeypatch
):
    team = acast.team.id
    anna = await subscribed(acast.anna, team)
    nadia = await subscribed(acast.nadia, team)
    layer = get_channel_layer()
    real = layer.group_send
    gate = asyncio.Event()
    held: list[int] = []

    async def held_send(group, event):
        # The room's message hints wait until the test opens the gate.
        if group == publish.room_group(team) and event["type"] == "room.message":
            held.append(event["message"]["seq"])
            await gate.wait()
        await real(group, event)

    monkeypatch.setattr(layer, "group_send", held_send)
    acks = []
    for i in range(3):
        await send(anna, {"type": "send", "room": team, "client_id": f"c{i}", "body": f"m{i}"})
        # Waiting for the group send, the worker thread would never get here: the gate
        # is still shut.
        acks.append((await expect(anna, "ack", client_id=f"c{i}"))["seq"])
    assert not gate.is_set() and sorted(held) == acks
    gate.set()
    got = [(await expect(nadia, "message"))["seq"] for _ in range(3)]
    assert got == acks  # each once, in seq order (the late hints dropped by seq)
    monkeypatch.setattr(layer, "group_send", real)
    await send(anna, {"type": "send", "room": team, "client_id": "c3", "body": "m3"})
    last = await expect(anna, "ack", client_id="c3")
    assert (await expect(nadia, "message"))["seq"] == last["seq"]  # nothing in between
    await anna.disconnect()
    await nadia.disconnect()


async def test_no_hint_is_sent_for_a_post_that_rolled_back(acast, monkeypatch):
    team = acast.team.id
    sent: list[dict] = []
    monkeypatch.setattr(publish, "_send", lambda group, event: sent.append(event))

    def post_then_roll_back():
        with transaction.atomic():
            check_post_message(person=acast.anna, room_id=team, body="never stored")
            assert sent == []  # nothing before commit
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await sync_to_async(post_then_roll_back)()
    assert sent == []
    await sync_to_async(check_post_message)(person=acast.anna, room_id=team, body="stored")
    assert [e["type"] for e in sent] == ["room.message", "log.poke"]
