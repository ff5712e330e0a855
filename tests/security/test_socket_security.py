"""Cross-site websocket hijacking is refused; revocation while connected stops delivery."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async as sync_to_async

from rooms.messages import check_post_message
from rooms.network import do_remove_member, do_revoke_family_basis
from tests.support.asgi import expect, recv, send, ws_connect
from tests.support.cast import build_cast

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://localhost.evil.example",
        "null",
        "http://localhost.attacker.net:80",
    ],
)
async def test_a_foreign_origin_cannot_open_the_socket_even_with_a_valid_session(origin):
    cast = await sync_to_async(build_cast)()
    comm, hello = await ws_connect(cast.anna, origin=origin)
    assert hello is None  # refused at the handshake: no frame, no room list
    await comm.disconnect()


async def test_the_same_origin_is_accepted():
    cast = await sync_to_async(build_cast)()
    comm, hello = await ws_connect(cast.anna, origin="http://localhost")
    assert hello["type"] == "hello"
    await comm.disconnect()


async def test_no_session_gets_unauthenticated_and_no_rooms():
    comm, frame = await ws_connect(None)
    assert frame == {"type": "error", "code": "unauthenticated", "message": "Sign in first."}
    await comm.disconnect()


async def drain(comm, quiet: float = 1.5) -> list[dict]:
    """Every frame until the socket stays quiet for ``quiet`` seconds."""
    frames = []
    while not await comm.receive_nothing(timeout=quiet):
        frames.append(await recv(comm))
    return frames


async def _subscribed(person, room):
    comm, hello = await ws_connect(person)
    assert room.id in {r["room"] for r in hello["rooms"]}
    await send(comm, {"type": "subscribe", "room": room.id})
    await expect(comm, "subscribed", room=room.id)
    return comm


async def test_revoking_the_family_basis_while_connected_stops_delivery_at_once():
    cast = await sync_to_async(build_cast)()
    debbie = await _subscribed(cast.debbie, cast.family)
    await sync_to_async(check_post_message)(
        person=cast.anna, room_id=cast.family.id, body="before revocation"
    )
    assert (await expect(debbie, "message"))["body"] == "before revocation"
    await sync_to_async(do_revoke_family_basis)(cast.peggy, cast.debbie, by=cast.carol)
    await expect(debbie, "revoked", room=cast.family.id)
    await sync_to_async(check_post_message)(
        person=cast.anna, room_id=cast.family.id, body="after revocation"
    )
    frames = await drain(debbie)
    assert not [f for f in frames if f.get("type") == "message"]
    # The open socket cannot post or resubscribe either.
    await send(debbie, {"type": "send", "room": cast.family.id, "client_id": "d1", "body": "x"})
    assert (await expect(debbie, "error"))["code"] == "not_found"
    await send(debbie, {"type": "subscribe", "room": cast.family.id, "ref": "again"})
    assert (await expect(debbie, "error", ref="again"))["code"] == "not_found"
    await debbie.disconnect()


async def test_removing_a_member_while_connected_stops_delivery():
    cast = await sync_to_async(build_cast)()
    nadia = await _subscribed(cast.nadia, cast.team)
    await sync_to_async(do_remove_member)(cast.team, cast.nadia, by=cast.carol)
    await expect(nadia, "revoked", room=cast.team.id)
    await sync_to_async(check_post_message)(
        person=cast.anna, room_id=cast.team.id, body="clinical detail after removal"
    )
    frames = await drain(nadia)
    assert "clinical detail after removal" not in str(frames)
    await nadia.disconnect()
