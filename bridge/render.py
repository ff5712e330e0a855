"""Pure mapping of CoCare log entries to Matrix events (no database, no network).

Every event we send carries ``org.cocare.txn`` (the outbox txn id) so the bridge can
recognise its own event in the room after an uncertain send (see ``bridge.sender``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TXN_KEY = "org.cocare.txn"
CARD_KEY = "org.cocare.card"


@dataclass(frozen=True)
class Rendered:
    """``send``: an ``m.room.message`` with ``content``; ``redact``: redact ``target``."""

    action: str
    content: dict[str, Any]
    target_event_id: str | None = None


def card_text(title: str, options: list[dict[str, Any]]) -> str:
    """A card as numbered lines: replying with an option's number (its value) answers it."""
    lines = [title]
    lines += [f"{o['value']}. {o.get('emoji') + ' ' if o.get('emoji') else ''}{o['label']}"
              for o in options]
    if options:
        lines.append("Reply with a number.")
    return "\n".join(lines)


def render(*, kind: str, body: str, payload: dict[str, Any], txn_id: str,
           reply_event_id: str | None = None, target_event_id: str | None = None,
           answered_label: str | None = None) -> Rendered | None:
    """The Matrix form of one entry, or None when it does not cross (signals, or an
    amendment whose target never reached Matrix)."""
    content: dict[str, Any]
    if kind in ("text", "note"):
        text = body if kind == "text" else f"Clinical note: {body}"
        content = {"msgtype": "m.text", "body": text}
    elif kind == "system":
        content = {"msgtype": "m.notice", "body": body}
    elif kind == "card":
        content = {"msgtype": "m.text",
                   "body": card_text(payload.get("title", ""), payload.get("options", [])),
                   CARD_KEY: {"card_id": payload.get("card_id"),
                              "options": [o["value"] for o in payload.get("options", [])]}}
    elif kind == "answer":
        label = answered_label or str(payload.get("value"))
        content = {"msgtype": "m.notice", "body": f"Answered: {label}"}
    elif kind == "edit":
        if target_event_id is None:
            return None
        new = {"msgtype": "m.text", "body": body}
        content = {"msgtype": "m.text", "body": f"* {body}", "m.new_content": new,
                   "m.relates_to": {"rel_type": "m.replace", "event_id": target_event_id}}
    elif kind == "redaction":
        if target_event_id is None:
            return None
        return Rendered("redact", {}, target_event_id)
    else:
        return None
    if reply_event_id and kind != "edit":
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_event_id}}
    content[TXN_KEY] = txn_id
    return Rendered("send", content)
