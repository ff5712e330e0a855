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

And it notices when the channel layer lost its state (a ``FLUSHDB``, or a restart of a
Redis without persistence: every group membership is gone, so live hints would reach no
socket and every entry would arrive through the watch, ~1 s late, until clients
reconnected). Each process keeps one sentinel key per Redis shard, named for the process's
layer and refreshed every tick with ``EXPIRE`` (one round trip per shard per tick). When
``EXPIRE`` finds no key, that shard was reset: the sentinel is set again first, then every
group of every registered socket (its person group, its room groups) is joined again, so a
reset during the re-join is seen at the next tick; a re-join that fails part-way (the
restarted server's first commands on stale connections) is repeated at the next tick.
Entries published meanwhile reach the sockets through the head check above; nothing is
lost or doubled (sockets de-duplicate by seq).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from rooms import publish, sessions
from rooms.access import allowed_pairs
from rooms.models import Room
from rooms.sessions import SessionRef

log = logging.getLogger(__name__)

INTERVAL = 0.5
# The sentinel outlives a stalled process for this long; refreshed every tick.
SENTINEL_TTL = 3600
# Group joins in flight at once while re-joining after a reset.
REJOIN_CONCURRENCY = 200
# An unreachable Redis must not hold up the access, head and session checks of the tick.
LAYER_CHECK_TIMEOUT = 2.0


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
        self.rejoins = 0  # layer resets seen (and repaired) by this process
        self._sentinels: set[int] = set()  # shards whose sentinel this process has set
        self._rejoin_pending = False  # a reset was seen and the re-join has not completed

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

    async def check_layer(self) -> int:
        """Re-join every registered socket's groups on each layer shard found reset.

        Returns how many group joins were made (0 when no shard lost its state). A layer
        without shards of its own (the in-memory layer) never loses its state: nothing to do.
        """
        layer = get_channel_layer()
        shards = getattr(layer, "ring_size", 0)
        if not shards or not hasattr(layer, "connection"):
            return 0
        first = await asyncio.wait_for(self._probe(layer, shards), LAYER_CHECK_TIMEOUT)
        if not self._rejoin_pending:
            return 0
        joins = [
            (group, channel)
            for channel, (pid, subs) in list(self.sockets.items())
            for group in [publish.person_group(pid), *map(publish.room_group, list(subs))]
        ]
        for start in range(0, len(joins), REJOIN_CONCURRENCY):
            batch = joins[start : start + REJOIN_CONCURRENCY]
            await asyncio.gather(*(layer.group_add(g, ch) for g, ch in batch))
        self._rejoin_pending = False
        if not first:
            self.rejoins += 1
            log.warning("channel layer was reset: re-joined %d socket groups", len(joins))
        return len(joins)

    async def _probe(self, layer: Any, shards: int) -> bool:
        """One EXPIRE per shard; a shard whose sentinel is gone marks a re-join pending
        (before anything else can fail) and gets its sentinel back. Returns whether a
        shard was new to this process (its first tick: not logged as a reset)."""
        key = f"{layer.prefix}:watch-sentinel:{layer.client_prefix}"
        first = False
        for index in range(shards):
            conn = layer.connection(index)
            if not await conn.expire(key, SENTINEL_TTL):
                self._rejoin_pending = True
                await conn.set(key, "1", ex=SENTINEL_TTL)  # before the re-join: see above
                # The first tick cannot tell a reset from a new process: re-join anyway.
                first = first or index not in self._sentinels
                self._sentinels.add(index)
        return first

    async def _run(self) -> None:
        while self.sockets:
            try:
                await self.check_layer()
            except Exception as exc:  # Redis down or slow: the next tick tries again
                log.warning("channel layer check failed: %s", type(exc).__name__)
            try:
                await self.check_once()
            except Exception as exc:  # sockets fall back to their own checks meanwhile
                log.warning("access watch failed: %s", type(exc).__name__)
            await asyncio.sleep(INTERVAL)


WATCH = AccessWatch()
