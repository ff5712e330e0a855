"""Delivered positions (issue 15 ticks): stored per member, never backwards, idempotent,
raised by a read, refused to anyone who cannot read the room, live to subscribed sockets
only (rooms/reads.py, the ``delivered`` frame in rooms/socket.py)."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async as sync_to_async

from rooms.errors import Invalid, NotFound
from rooms.messages import post_message
from rooms.models import ReadPosition
from rooms.reads import check_mark_delivered, check_mark_read
from tests.support.asgi import expect, recv, send, ws_connect
from tests.support.cast import build_cast

pytestmark = pytest.mark.django_db(transaction=True)


def _positions(room, person) -> tuple[int, int]:
    pos = ReadPosition.objects.filter(room=room, person=person).first()
    return (pos.seq, pos.delivered_seq) if pos else (0, 0)


def test_delivered_only_moves_forward_and_a_read_raises_it():
    cast = build_cast()
    seqs = [
        post_message(room=cast.team, sender=cast.anna, body=f"m{i}").message.seq for i in range(4)
    ]
    assert check_mark_delivered(cast.nadia, cast.team.id, seqs[2]) == seqs[2]
    assert check_mark_delivered(cast.nadia, cast.team.id, seqs[2]) == seqs[2]  # repeat
    assert check_mark_delivered(cast.nadia, cast.team.id, seqs[0]) == seqs[2]  # older
    assert _positions(cast.team, cast.nadia) == (0, seqs[2])
    check_mark_read(cast.nadia, cast.team.id, seqs[3])  # read implies received
    assert _positions(cast.team, cast.nadia) == (seqs[3], seqs[3])
    assert check_mark_delivered(cast.nadia, cast.team.id, seqs[1]) == seqs[3]
    check_mark_read(cast.nadia, cast.team.id, seqs[1])  # an older read lowers nothing
    assert _positions(cast.team, cast.nadia) == (seqs[3], seqs[3])


def test_delivered_is_refused_past_the_end_and_to_people_without_access():
    cast = build_cast()
    seq = post_message(room=cast.team, sender=cast.anna, body="BP fine").message.seq
    with pytest.raises(Invalid):
        check_mark_delivered(cast.nadia, cast.team.id, seq + 1)
    # Family in the team room, a worker of the same provider not assigned, another
    # provider's manager, a commissioner: all the same NotFound, nothing stored.
    for who in (
        cast.debbie,
        cast.outsider_worker,
        cast.other_manager,
        cast.colin,
        cast.far_manager,
    ):
        with pytest.raises(NotFound):
            check_mark_delivered(who, cast.team.id, seq)
    with pytest.raises(NotFound):
        check_mark_delivered(cast.nadia, 2**61, 1)  # no such room
    assert ReadPosition.objects.filter(room=cast.team).count() == 0


@pytest.mark.parametrize(
    "seq", [-1, "5", 5.0, None, True, 2**63, "NaN"], ids=lambda v: f"seq={v!r}"
)
async def test_delivered_frames_with_odd_seqs_are_refused_with_nothing_stored(seq):
    cast = await sync_to_async(build_cast)()
    nadia, _ = await ws_connect(cast.nadia)
    await send(nadia, {"type": "delivered", "room": cast.team.id, "seq": seq, "ref": "d"})
    err = await expect(nadia, "error")
    assert err["code"] in {"invalid", "bad_json"}
    count = await sync_to_async(ReadPosition.objects.filter(room=cast.team).count)()
    assert count == 0
    await nadia.disconnect()


async def test_delivered_reaches_subscribed_members_live_and_no_one_else():
    cast = await sync_to_async(build_cast)()
    anna, _ = await ws_connect(cast.anna)
    nadia, _ = await ws_connect(cast.nadia)
    debbie, _ = await ws_connect(cast.debbie)  # family: no access to the team room
    for c, room in ((anna, cast.team.id), (nadia, cast.team.id), (debbie, cast.family.id)):
        await send(c, {"type": "subscribe", "room": room, "ref": "s"})
        await expect(c, "subscribed")
    await send(anna, {"type": "send", "room": cast.team.id, "client_id": "a1", "body": "hello"})
    msg = await expect(nadia, "message")
    await send(nadia, {"type": "delivered", "room": cast.team.id, "seq": msg["seq"], "ref": "d"})
    ok = await expect(nadia, "delivered_ok")
    assert (ok["seq"], ok["ref"]) == (msg["seq"], "d")
    got = await expect(anna, "delivered")
    assert (got["person"], got["room"], got["seq"]) == (cast.nadia.id, cast.team.id, msg["seq"])
    # A repeat stores nothing new and publishes nothing: the next frame Anna gets is the
    # pong, not a second delivered.
    await send(nadia, {"type": "delivered", "room": cast.team.id, "seq": msg["seq"]})
    await expect(nadia, "delivered_ok")
    await send(anna, {"type": "ping", "ref": "p"})
    assert (await recv(anna))["type"] == "pong"
    # Debbie, not in the team room, may neither set a position there nor hear one.
    await send(debbie, {"type": "delivered", "room": cast.team.id, "seq": msg["seq"]})
    err = await expect(debbie, "error")
    assert err["code"] == "not_found"
    await send(debbie, {"type": "ping", "ref": "p"})
    assert (await recv(debbie))["type"] == "pong"
    for c in (anna, nadia, debbie):
        await c.disconnect()
