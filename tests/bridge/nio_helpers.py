"""Helpers for tests against the real Synapse: the bridge workers and matrix-nio users."""

from __future__ import annotations

import httpx
from nio import AsyncClient, MessageDirection, RoomMessagesResponse

from bridge.models import BridgedRoom
from bridge.outbound import OutboxConsumer
from bridge.sender import MatrixSender
from cocare_chat import clock
from rooms.messages import check_post_message

AS_TOKEN = "as-token-" + "a" * 24


class Bridge:
    """The two outbound workers, driven one iteration at a time."""

    def __init__(self, cfg):
        self.consumer = OutboxConsumer()
        self.sender = MatrixSender(cfg)

    def drain(self) -> int:
        total = 0
        for _ in range(50):
            done = self.consumer.run_once(clock.now()) + self.sender.run_once(clock.now())
            total += done
            if not done:
                break
        return total


open_clients: list[AsyncClient] = []


def nio_client(matrix, run, localpart: str) -> AsyncClient:
    """A real matrix-nio client of a user registered on the test Synapse."""
    user_id, token = matrix.synapse.register_user(localpart)
    client = AsyncClient(matrix.synapse.url, user_id)
    client.access_token = token
    client.user_id = user_id
    open_clients.append(client)
    return client


def join_when_invited(run, client: AsyncClient, room_id: str, bridge: Bridge) -> None:
    for _ in range(100):
        bridge.drain()
        resp = run(client.sync(timeout=200))
        # An invite may have come with an earlier sync (rooms are created eagerly).
        if room_id in getattr(resp.rooms, "invite", {}) or room_id in client.invited_rooms:
            r = run(client.join(room_id))
            assert getattr(r, "room_id", None) == room_id, r
            return
    raise AssertionError("never invited")


def linked_nurse_in_team_room(
    matrix, cast, run, opening: str = "Room open", localpart: str = "nadia"
):
    """Nadia's Matrix account, linked to her CoCare person and joined to the bridged team
    room (created by Anna's ``opening`` message). Returns (client, bridge, room id)."""
    nurse = nio_client(matrix, run, localpart)
    cast.nadia.matrix_id = nurse.user_id
    cast.nadia.save()
    bridge = Bridge(matrix.cfg)
    check_post_message(person=cast.anna, room_id=cast.team.id, body=opening)
    bridge.drain()
    room_id = BridgedRoom.objects.get(room=cast.team).matrix_room_id
    join_when_invited(run, nurse, room_id, bridge)
    return nurse, bridge, room_id


SHOWN = ("m.room.message", "org.matrix.msc3381.poll.start")


def timeline(run, client: AsyncClient, room_id: str) -> list[dict]:
    """Every message and poll visible to the client (redacted ones too), oldest first."""
    events, start = [], None
    while True:
        r = run(
            client.room_messages(room_id, start=start, direction=MessageDirection.front, limit=100)
        )
        assert isinstance(r, RoomMessagesResponse), r
        events += [e.source for e in r.chunk if e.source.get("type") in SHOWN]
        if not r.chunk or not r.end or r.end == start:
            return events
        start = r.end


def display_name(matrix, user_id: str) -> str:
    r = httpx.get(
        f"{matrix.synapse.url}/_matrix/client/v3/profile/{user_id}/displayname",
        headers={"Authorization": f"Bearer {AS_TOKEN}"},
        timeout=10,
    )
    return r.json()["displayname"]


def membership(matrix, room_id: str, user_id: str) -> str | None:
    """A user's membership in a room, read from Synapse with the AS token (the bot's view)."""
    r = httpx.get(
        f"{matrix.synapse.url}/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{user_id}",
        headers={"Authorization": f"Bearer {AS_TOKEN}"},
        timeout=10,
    )
    return r.json().get("membership") if r.status_code == 200 else None


def invite_as_bot(matrix, room_id: str, user_id: str) -> None:
    """What a misconfigured admin tool holding the AS token would do: let someone in."""
    r = httpx.post(
        f"{matrix.synapse.url}/_matrix/client/v3/rooms/{room_id}/invite",
        json={"user_id": user_id},
        headers={"Authorization": f"Bearer {AS_TOKEN}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def invited_rooms(run, client: AsyncClient) -> set[str]:
    """Rooms the client has been invited to and not joined or left, after one more sync.

    (Synapse caches initial syncs for minutes, so a fresh one could be stale: the
    client's own incremental view is used.)"""
    run(client.sync(timeout=0))
    return set(client.invited_rooms)


def event_as_seen_by(matrix, client: AsyncClient, room_id: str, event_id: str) -> dict:
    r = httpx.get(
        f"{matrix.synapse.url}/_matrix/client/v3/rooms/{room_id}/event/{event_id}",
        headers={"Authorization": f"Bearer {client.access_token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()
