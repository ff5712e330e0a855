"""The JSON shape of log entries and events as clients see them (docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from rooms.access import visible_rooms
from rooms.models import Message, Person


def person_wire(p: Person) -> dict[str, Any]:
    return {"id": p.id, "name": p.display_name, "role": p.role}


def message_wire(m: Message) -> dict[str, Any]:
    """A log entry as delivered on websockets and returned by the HTTP API.

    Redacted entries keep their place in the sequence but lose body and payload.
    """
    return {
        "type": "message",
        "room": m.room_id,
        "seq": m.seq,
        "id": m.id,
        "kind": m.kind,
        "sender": person_wire(m.sender),
        "body": m.current_body,
        "payload": {} if m.redacted_at else m.payload,
        "client_id": m.client_id,
        "reply_to": m.reply_to.seq if m.reply_to_id else None,
        "target": m.target.seq if m.target_id else None,
        "created_at": m.created_at.isoformat(),
        "edited": m.edited_at is not None,
        "redacted": m.redacted_at is not None,
    }


def amends_hidden(target_seq: int | None, visible_from: int) -> bool:
    """True for an edit or redaction of an entry the member cannot see (``visible_from``:
    history at or before that seq is hidden from them — a family member who joined late)."""
    return target_seq is not None and target_seq <= visible_from


def for_member(wire: dict[str, Any], visible_from: int) -> dict[str, Any]:
    """The entry as a member whose history starts after ``visible_from`` may see it.

    An amendment of hidden history keeps its place in the sequence (clients rely on
    gap-free seqs) but loses its text, payload and target: the new text of an old message
    is as hidden as the old text.
    """
    if not amends_hidden(wire.get("target"), visible_from):
        return wire
    return {**wire, "body": "", "payload": {}, "target": None}


def rooms_wire(person: Person) -> list[dict[str, Any]]:
    """The rooms a person may see, as the socket's ``hello`` and ``GET /api/rooms`` list them."""
    return [
        {
            "room": r.id,
            "kind": r.kind,
            "service_user": r.service_user_id,
            "name": r.service_user.name,
            "head_seq": r.last_seq,
        }
        for r in visible_rooms(person).order_by("id")
    ]
