"""Live fan-out hints, scheduled on commit (DESIGN.md §3.2–3.3).

The channel layer is at-most-once: everything published here is a hint that lets open
sockets and workers react quickly. Nothing relies on it for correctness — sockets fill
gaps from the database by seq, and workers poll their cursors.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

WORKER_POKE_GROUP = "log.poke"


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def person_group(person_id: int) -> str:
    return f"person.{person_id}"


# Set by a websocket consumer around the worker-thread call of a post (rooms.socket): the
# event loop that owns this process's channel layer. Hints published from that thread are
# handed to the loop without the thread waiting for them (see ``_send``). Context
# variables travel into ``sync_to_async`` threads, so only that call sees it.
SEND_LOOP: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar(
    "cocare_publish_send_loop", default=None
)


def _send(group: str, event: dict[str, Any]) -> None:
    """Publish one hint (already committed). From a post's worker thread with
    ``SEND_LOOP`` set: scheduled on that loop and not waited for, so the thread is free
    (and the sender's ack goes out) while the group send runs; order across hints is
    repaired by seq on every socket, and a hint that fails is logged like any lost one.
    Anywhere else: ``async_to_sync``, waiting for the send as before."""
    layer = get_channel_layer()
    if layer is None:
        return
    loop = SEND_LOOP.get()
    if loop is not None and loop.is_running() and not _on_loop(loop):
        try:
            done = asyncio.run_coroutine_threadsafe(layer.group_send(group, event), loop)
        except RuntimeError:  # the loop closed meanwhile: the hint is lost, not the entry
            log.warning("fan-out to %s failed: loop closed", group)
            return
        done.add_done_callback(functools.partial(_log_failure, group))
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception as exc:  # a lost hint is recovered by seq / polling
        log.warning("fan-out to %s failed: %s", group, type(exc).__name__)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _log_failure(group: str, done: concurrent.futures.Future[None]) -> None:
    if done.cancelled():
        log.warning("fan-out to %s failed: cancelled", group)
    elif (exc := done.exception()) is not None:  # recovered by seq / polling
        log.warning("fan-out to %s failed: %s", group, type(exc).__name__)


def send_on_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(group, event), robust=True)


def poke_workers_on_commit() -> None:
    send_on_commit(WORKER_POKE_GROUP, {"type": "log.poke"})


def message_on_commit(room_id: int, wire: dict[str, Any]) -> None:
    send_on_commit(room_group(room_id), {"type": "room.message", "message": wire})


def access_changed_on_commit(person_id: int, room_id: int) -> None:
    """Tell a person's open sockets to re-check access to a room now."""
    send_on_commit(person_group(person_id), {"type": "access.changed", "room": room_id})


def session_ended_on_commit(person_id: int, session_digest: str | None = None) -> None:
    """Tell a person's open sockets that a session of theirs may have ended.

    With ``session_digest`` (rooms.sessions.digest of the session key: a sign-out) the
    socket on that session closes. Without it (a password or account change) each socket
    re-checks its own session at once and closes if it is no longer valid.
    """
    event: dict[str, Any] = {"type": "session.ended"}
    if session_digest is not None:
        event["session"] = session_digest
    send_on_commit(person_group(person_id), event)
