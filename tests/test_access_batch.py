"""The per-process batched access fallback of rooms/socket.py (``AccessBatch``).

Sockets whose access decision is due at the same moment share one decision; each still
gets its own answer by the access rule, across providers and councils, and a revocation
made just before the check is seen by it.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from rooms.messages import check_post_message
from rooms.network import do_revoke_family_basis
from rooms.socket import AccessBatch
from tests.support.asgi import expect, recv, send, ws_connect
from tests.support.cast import build_cast

pytestmark = pytest.mark.django_db(transaction=True)

post = sync_to_async(check_post_message)


@pytest.fixture
async def acast():
    return await sync_to_async(build_cast)()


async def test_checks_due_together_share_one_decision_with_each_answer_its_own(acast):
    c = acast
    asks = [
        (c.anna, c.team, True),  # assigned care worker
        (c.nadia, c.team, True),  # district nurse
        (c.debbie, c.family, True),  # daughter with a recorded basis
        (c.debbie, c.team, False),  # family never in the professional room
        (c.other_worker, c.team, False),  # same council, other provider
        (c.far_worker, c.team, False),  # other council
        (c.far_worker, c.reg_team, True),  # her own council's room
        (c.anna, c.reg_team, False),  # and not the other way round
    ]
    batch = AccessBatch()
    got = await asyncio.gather(*(batch.allowed(p.id, r.id) for p, r, _ in asks))
    assert got == [want for _, _, want in asks]
    assert batch.batches == 1

    await sync_to_async(do_revoke_family_basis)(c.peggy, c.debbie, by=c.carol)
    assert await batch.allowed(c.debbie.id, c.family.id) is False
    assert batch.batches == 2


async def test_the_same_pair_asked_twice_in_one_batch_gets_one_answer_each(acast):
    batch = AccessBatch()
    a, b = await asyncio.gather(
        batch.allowed(acast.anna.id, acast.team.id), batch.allowed(acast.anna.id, acast.team.id)
    )
    assert (a, b, batch.batches) == (True, True, 1)


async def test_sockets_due_at_once_deliver_to_members_and_cut_off_the_revoked(acast, monkeypatch):
    from rooms import publish, socket

    c = acast
    comms = {}
    for who, room in (("anna", c.family), ("carol", c.family), ("debbie", c.family)):
        comm, _ = await ws_connect(getattr(c, who))
        await send(comm, {"type": "subscribe", "room": room.id, "after_seq": 0, "ref": "s"})
        await expect(comm, "subscribed")
        comms[who] = comm
    # The hint is lost and every socket's decision has lapsed: the batched fallback alone
    # must cut Debbie off while the others still get the message.
    monkeypatch.setattr(publish, "access_changed_on_commit", lambda *a, **k: None)
    await sync_to_async(do_revoke_family_basis)(c.peggy, c.debbie, by=c.carol)
    monkeypatch.setattr(socket, "ACCESS_TTL", 0.0)
    await post(person=c.anna, room_id=c.family.id, body="after the basis ended")
    for who in ("anna", "carol"):
        assert (await expect(comms[who], "message"))["body"] == "after the basis ended"
    await expect(comms["debbie"], "revoked", room=c.family.id)
    await send(comms["debbie"], {"type": "ping", "ref": "p"})
    while (f := await recv(comms["debbie"]))["type"] != "pong":
        assert f.get("body") != "after the basis ended"
    for comm in comms.values():
        await comm.disconnect()
