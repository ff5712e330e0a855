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
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from rooms.access import allowed_pairs
from rooms.models import Room

log = logging.getLogger(__name__)

INTERVAL = 0.5


def _decide(pairs: set[tuple[int, int]]) -> tuple[set[tuple[int, int]], dict[int, int]]:
    """Allowed (person, room) pairs, and each room's head seq, in one thread hop."""
    rooms = {room for _, room in pairs}
    heads = dict(Room.objects.filter(pk__in=rooms).values_list("pk", "last_seq"))
    return allowed_pairs(pairs), heads


class AccessWatch:
    def __init__(self) -> None:
        # channel name -> (person id, that socket's {room id: Sub})
        self.sockets: dict[str, tuple[int, dict[int, Any]]] = {}
        # (channel name, room id) -> the head that socket was behind at the last tick
        self.behind: dict[tuple[str, int], int] = {}
        self._task: asyncio.Task | None = None

    def register(self, channel_name: str, person_id: int, subs: dict[int, Any]) -> None:
        self.sockets[channel_name] = (person_id, subs)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    def unregister(self, channel_name: str) -> None:
        self.sockets.pop(channel_name, None)

    async def check_once(self) -> int:
        """Decide every registered subscription now; returns how many lost access."""
        snapshot = [(ch, pid, dict(subs)) for ch, (pid, subs) in self.sockets.items()]
        pairs = {(pid, room) for _, pid, subs in snapshot for room in subs}
        if not pairs:
            return 0
        started = time.monotonic()
        ok, heads = await database_sync_to_async(_decide, thread_sensitive=False)(pairs)
        layer = get_channel_layer()
        lost = 0
        behind: dict[tuple[str, int], int] = {}
        for channel, pid, subs in snapshot:
            for room, sub in subs.items():
                if (pid, room) in ok:
                    sub.checked_at = max(sub.checked_at, started)
                else:
                    lost += 1
                    await layer.send(channel, {"type": "access.changed", "room": room})
                    continue
                seen = self.behind.get((channel, room))
                if seen is not None and sub.last_seq < seen:
                    await layer.send(channel, {"type": "room.behind", "room": room,
                                               "head": seen})
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
