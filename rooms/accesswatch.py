"""One access re-check and one head check per process, not one per socket (DESIGN.md §3.7).

Every open socket registers its subscriptions here. A single task per process decides
access for all of them in one batch (``rooms.access.allowed_pairs``) every
``INTERVAL`` seconds, refreshes each subscription's ``checked_at``, and sends
``access.changed`` to the channel of any socket that lost a room. Sockets still re-check
on their own when their last decision is older than their TTL (the watch is late, or
was never started), so the one-second bound holds either way.

In the same batch it reads the head seq of every subscribed room. A socket still behind
a head it was already behind at the previous tick gets ``room.behind`` and fills the gap
from the record: a lost fan-out hint with no later message in that room reaches the
screen within two intervals instead of waiting for the room's next message. Waiting one
tick keeps messages that are merely in flight from causing database reads.

And it checks every socket's session (``rooms.sessions.ended``: still there, not expired,
user active, auth hash current — two queries for all sockets). A socket whose session
ended gets ``session.ended`` naming its own session and closes: the backstop for a lost
sign-out hint, an expiry, or a password change or deactivation made in another process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from rooms import sessions
from rooms.access import allowed_pairs
from rooms.models import Room
from rooms.sessions import SessionRef

log = logging.getLogger(__name__)

INTERVAL = 0.5


def _decide(
    pairs: set[tuple[int, int]],
    refs: set[SessionRef],
) -> tuple[set[tuple[int, int]], dict[int, int], set[SessionRef]]:
    """Allowed (person, room) pairs, each room's head seq and the ended sessions, in one
    thread hop and a fixed number of queries."""
    rooms = {room for _, room in pairs}
    heads = dict(Room.objects.filter(pk__in=rooms).values_list("pk", "last_seq")) if rooms else {}
    return allowed_pairs(pairs), heads, sessions.ended(refs)


class AccessWatch:
    def __init__(self) -> None:
        # channel name -> (person id, that socket's {room id: Sub})
        self.sockets: dict[str, tuple[int, dict[int, Any]]] = {}
        # channel name -> the session that socket was opened with
        self.sessions: dict[str, SessionRef] = {}
        # (channel name, room id) -> the head that socket was behind at the last tick
        self.behind: dict[tuple[str, int], int] = {}
        self._task: asyncio.Task | None = None

    def register(
        self,
        channel_name: str,
        person_id: int,
        subs: dict[int, Any],
        session: SessionRef | None = None,
    ) -> None:
        self.sockets[channel_name] = (person_id, subs)
        if session is not None:
            self.sessions[channel_name] = session
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    def unregister(self, channel_name: str) -> None:
        self.sockets.pop(channel_name, None)
        self.sessions.pop(channel_name, None)

    async def check_once(self) -> int:
        """Decide every registered subscription and session now; returns how many
        subscriptions lost access."""
        snapshot = [(ch, pid, dict(subs)) for ch, (pid, subs) in self.sockets.items()]
        refs = dict(self.sessions)
        pairs = {(pid, room) for _, pid, subs in snapshot for room in subs}
        if not pairs and not refs:
            return 0
        started = time.monotonic()
        ok, heads, ended = await database_sync_to_async(_decide, thread_sensitive=False)(
            pairs, set(refs.values())
        )
        layer = get_channel_layer()
        signed_out = {ch for ch, ref in refs.items() if ref in ended}
        for channel in signed_out:
            await layer.send(channel, {"type": "session.ended", "session": refs[channel].digest})
        lost = 0
        behind: dict[tuple[str, int], int] = {}
        for channel, pid, subs in snapshot:
            if channel in signed_out:
                continue
            for room, sub in subs.items():
                if (pid, room) in ok:
                    sub.checked_at = max(sub.checked_at, started)
                else:
                    lost += 1
                    await layer.send(channel, {"type": "access.changed", "room": room})
                    continue
                seen = self.behind.get((channel, room))
                if seen is not None and sub.last_seq < seen:
                    await layer.send(channel, {"type": "room.behind", "room": room, "head": seen})
                elif sub.last_seq < heads.get(room, 0):
                    behind[(channel, room)] = heads[room]
        self.behind = behind
        return lost

    async def _run(self) -> None:
        while self.sockets:
            try:
                await self.check_once()
            except Exception as exc:  # sockets fall back to their own checks meanwhile
                log.warning("access watch failed: %s", type(exc).__name__)
            await asyncio.sleep(INTERVAL)


WATCH = AccessWatch()
