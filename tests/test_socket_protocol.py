"""The rooms websocket through the real ASGI stack: replay, live, acks, errors, revocation."""

from __future__ import annotations

import json
import time

import pytest
from channels.db import database_sync_to_async as sync_to_async

from rooms.messages import check_post_message
from rooms.models import Message
from rooms.network import do_remove_member, do_revoke_family_basis
from tests.support.asgi import expect, recv, send, ws_connect
from tests.support.cast import build_cast

pytestmark = pytest.mark.django_db(transaction=True)

post = sync_to_async(check_post_message)


@pytest.fixture
async def acast():
    return await sync_to_async(build_cast)()


async def subscribe(comm, room, after_seq=0):
    await send(comm, {"type": "subscribe", "room": room, "after_seq": after_seq, "ref": "s"})


async def test_subscribe_replays_history_after_seq_then_delivers_live(acast):
    for i in range(3):
        await post(person=acast.anna, room_id=acast.team.id, body=f"m{i}")
    comm, _ = await ws_connect(acast.nadia)
    await subscribe(comm, acast.team.id, after_seq=1)
    got = [await expect(comm, "message"), await expect(comm, "message")]
    assert [m["seq"] for m in got] == [2, 3]
    sub = await expect(comm, "subscribed")
    assert sub["head_seq"] == 3
    await post(person=acast.anna, room_id=acast.team.id, body="live one")
    live = await expect(comm, "message")
    assert (live["seq"], live["body"], live["sender"]["name"]) == (4, "live one", "Anna Kowalski")
    await comm.disconnect()


async def test_send_is_acknowledged_and_a_retry_returns_the_same_message(acast):
    comm, _ = await ws_connect(acast.anna)
    frame = {"type": "send", "room": acast.team.id, "client_id": "phone-1", "body": "On my way"}
    await send(comm, frame)
    first = await expect(comm, "ack")
    await send(comm, frame)
    second = await expect(comm, "ack")
    assert first["duplicate"] is False and second["duplicate"] is True
    assert (first["id"], first["seq"]) == (second["id"], second["seq"])
    assert await sync_to_async(Message.objects.filter(room=acast.team).count)() == 1
    await comm.disconnect()


async def test_members_in_both_rooms_get_each_rooms_messages_once(acast):
    anna, _ = await ws_connect(acast.anna)
    debbie, _ = await ws_connect(acast.debbie)
    await subscribe(anna, acast.team.id)
    await expect(anna, "subscribed")
    await subscribe(anna, acast.family.id)
    await expect(anna, "subscribed")
    await subscribe(debbie, acast.family.id)
    await expect(debbie, "subscribed")
    await send(
        debbie,
        {
            "type": "send",
            "room": acast.family.id,
            "client_id": "d1",
            "body": "Mum sounded cheerful",
        },
    )
    msg = await expect(anna, "message", room=acast.family.id)
    assert msg["body"] == "Mum sounded cheerful" and msg["sender"]["role"] == "family"
    await post(person=acast.nadia, room_id=acast.team.id, body="Clinical detail")
    await expect(anna, "message", room=acast.team.id)
    # Debbie never sees the team room's entry.
    await send(debbie, {"type": "ping", "ref": "p"})
    frames = []
    while True:
        f = await recv(debbie)
        frames.append(f)
        if f["type"] == "pong":
            break
    assert all(f.get("room") != acast.team.id for f in frames)
    await anna.disconnect()
    await debbie.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("[" * 20_000, "bad_json"),
        ("[]", "invalid"),
        ('{"type": "launch"}', "invalid"),
        ('{"type": "send", "room": 1, "client_id": "a", "body": "x", "sneaky": 1}', "invalid"),
        ('{"type": "send", "room": "1", "client_id": "a", "body": "x"}', "invalid"),
        ('{"type": "send", "room": 1, "client_id": "has space", "body": "x"}', "invalid"),
        ('{"type": "subscribe", "room": -4}', "invalid"),
        ('{"type": "subscribe", "room": 99999}', "not_found"),
        ('{"type": "send", "room": 99999, "client_id": "a", "body": "x"}', "not_found"),
        ('{"type": "typing", "room": 5}', "not_subscribed"),
        (
            json.dumps({"type": "send", "room": 1, "client_id": "a", "body": "x" * 40_000}),
            "too_large",
        ),
    ],
)
async def test_bad_frames_get_a_clear_error_and_write_nothing(acast, raw, code):
    comm, _ = await ws_connect(acast.anna)
    await send(comm, raw)
    err = await expect(comm, "error")
    assert err["code"] == code and err["message"]
    await send(comm, {"type": "ping", "ref": "still-alive"})
    assert (await expect(comm, "pong"))["ref"] == "still-alive"
    assert await sync_to_async(Message.objects.count)() == 0
    await comm.disconnect()


async def test_binary_frames_are_refused(acast):
    comm, _ = await ws_connect(acast.anna)
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await expect(comm, "error"))["code"] == "bad_frame"
    await comm.disconnect()


async def test_posting_to_a_room_you_cannot_see_is_refused(acast):
    comm, _ = await ws_connect(acast.debbie)
    await send(
        comm, {"type": "send", "room": acast.team.id, "client_id": "x", "body": "hi", "ref": "r1"}
    )
    err = await expect(comm, "error")
    assert (err["code"], err["ref"], err["client_id"]) == ("not_found", "r1", "x")
    await comm.disconnect()


async def test_unauthenticated_sockets_are_closed():
    comm, hello = await ws_connect(None)
    assert hello["code"] == "unauthenticated"
    out = await comm.receive_output(timeout=5)
    assert out == {"type": "websocket.close", "code": 4401}


async def test_foreign_origin_is_refused(acast):
    comm, hello = await ws_connect(acast.anna, origin="https://evil.example")
    assert hello is None


async def test_removed_member_stops_receiving_within_a_second(acast):
    comm, _ = await ws_connect(acast.tom)
    await subscribe(comm, acast.team.id)
    await expect(comm, "subscribed")
    await sync_to_async(do_remove_member)(acast.team, acast.tom, by=acast.carol)
    t0 = time.monotonic()
    await expect(comm, "revoked", room=acast.team.id)
    assert time.monotonic() - t0 < 1.0
    await post(person=acast.anna, room_id=acast.team.id, body="after removal")
    await send(comm, {"type": "ping", "ref": "p"})
    while (f := await recv(comm))["type"] != "pong":
        assert f.get("body") != "after removal"
    await comm.disconnect()


async def test_revoked_family_member_is_cut_off_even_if_the_hint_is_lost(acast, monkeypatch):
    from rooms import publish, socket

    comm, _ = await ws_connect(acast.debbie)
    await subscribe(comm, acast.family.id)
    await expect(comm, "subscribed")
    # Drop the access-changed hint: the per-delivery re-check must still cut her off.
    monkeypatch.setattr(publish, "access_changed_on_commit", lambda *a, **k: None)
    await sync_to_async(do_revoke_family_basis)(acast.peggy, acast.debbie, by=acast.carol)
    # Stand in for the 1 s access TTL having lapsed, without sleeping.
    monkeypatch.setattr(socket, "ACCESS_TTL", 0.0)
    await post(person=acast.anna, room_id=acast.family.id, body="private now")
    await expect(comm, "revoked", room=acast.family.id)
    await send(comm, {"type": "ping", "ref": "p"})
    while (f := await recv(comm))["type"] != "pong":
        assert f.get("body") != "private now"
    await comm.disconnect()


async def test_typing_and_read_receipts_reach_other_members(acast):
    anna, _ = await ws_connect(acast.anna)
    nadia, _ = await ws_connect(acast.nadia)
    for c in (anna, nadia):
        await subscribe(c, acast.team.id)
        await expect(c, "subscribed")
    await send(anna, {"type": "typing", "room": acast.team.id})
    typing = await expect(nadia, "typing")
    assert typing["person"]["name"] == "Anna Kowalski"
    await send(anna, {"type": "send", "room": acast.team.id, "client_id": "a1", "body": "hello"})
    msg = await expect(nadia, "message")
    await send(nadia, {"type": "read", "room": acast.team.id, "seq": msg["seq"]})
    rd = await expect(anna, "read")
    assert (rd["person"], rd["seq"]) == (acast.nadia.id, msg["seq"])
    await anna.disconnect()
    await nadia.disconnect()


async def test_edits_and_redactions_arrive_as_log_entries(acast):
    anna, _ = await ws_connect(acast.anna)
    await subscribe(anna, acast.team.id)
    await expect(anna, "subscribed")
    await send(anna, {"type": "send", "room": acast.team.id, "client_id": "e1", "body": "teh"})
    seq = (await expect(anna, "ack"))["seq"]
    await send(
        anna,
        {"type": "edit", "room": acast.team.id, "client_id": "e2", "target": seq, "body": "the"},
    )
    edit = await expect(anna, "message", kind="edit")
    assert (edit["target"], edit["body"]) == (seq, "the")
    await send(anna, {"type": "redact", "room": acast.team.id, "client_id": "e3", "target": seq})
    red = await expect(anna, "message", kind="redaction")
    assert red["target"] == seq
    # A late subscriber sees the original as redacted, with no body.
    nadia, _ = await ws_connect(acast.nadia)
    await subscribe(nadia, acast.team.id)
    first = await expect(nadia, "message", seq=seq)
    assert first["redacted"] is True and first["body"] == ""
    await anna.disconnect()
    await nadia.disconnect()


async def test_the_process_access_watch_cuts_off_a_silent_socket_within_a_second(
    acast, monkeypatch
):
    """No message flows and the hint is lost: the per-process batch check still acts."""
    from rooms import publish

    comm, _ = await ws_connect(acast.tom)
    await subscribe(comm, acast.team.id)
    await expect(comm, "subscribed")
    monkeypatch.setattr(publish, "access_changed_on_commit", lambda *a, **k: None)
    await sync_to_async(do_remove_member)(acast.team, acast.tom, by=acast.carol)
    t0 = time.monotonic()
    await expect(comm, "revoked", room=acast.team.id, timeout=3)
    assert time.monotonic() - t0 < 1.0
    await comm.disconnect()


async def test_an_after_seq_past_the_head_is_clamped_so_live_messages_still_arrive(acast):
    comm, _ = await ws_connect(acast.nadia)
    await subscribe(comm, acast.team.id, after_seq=10**9)
    assert (await expect(comm, "subscribed"))["head_seq"] == 0
    await post(person=acast.anna, room_id=acast.team.id, body="first")
    assert (await expect(comm, "message"))["seq"] == 1
    await comm.disconnect()


async def test_a_message_whose_hint_is_lost_still_reaches_a_silent_socket(acast, monkeypatch):
    """The fan-out hint is lost and nothing else is said in the room: the process watch
    sees the socket behind the record and fills the gap, once."""
    from rooms import publish

    nadia, _ = await ws_connect(acast.nadia)
    await subscribe(nadia, acast.team.id)
    await expect(nadia, "subscribed")
    monkeypatch.setattr(publish, "message_on_commit", lambda *a, **k: None)
    await post(person=acast.anna, room_id=acast.team.id, body="Peggy had a fall at 14:10")
    got = await expect(nadia, "message", timeout=5)
    assert (got["seq"], got["body"]) == (1, "Peggy had a fall at 14:10")
    await post(person=acast.anna, room_id=acast.team.id, body="Paramedics called")
    assert (await expect(nadia, "message", timeout=5))["seq"] == 2
    await send(nadia, {"type": "ping", "ref": "p"})
    while (f := await recv(nadia))["type"] != "pong":
        assert f["type"] != "message", f  # each entry once
    await nadia.disconnect()
