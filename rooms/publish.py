"""Live fan-out hints, scheduled on commit (DESIGN.md §3.2–3.3).

The channel layer is at-most-once: everything published here is a hint that lets open
sockets and workers react quickly. Nothing relies on it for correctness — sockets fill
gaps from the database by seq, and workers poll their cursors.
"""

from __future__ import annotations

import logging
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


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception as exc:  # a lost hint is recovered by seq / polling
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
