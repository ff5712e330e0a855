"""Pure mapping of CoCare log entries to Matrix events (no database, no network).

Every event we send carries ``org.cocare.txn`` (the outbox txn id) so the bridge can
recognise its own event in the room after an uncertain send (see ``bridge.sender``).

Choices (docs/matrix.md, "Decisions"):
- a card with options is an MSC3381 poll (``org.matrix.msc3381.poll.start``: the event
  type clients send and render in today's room versions; the stable ``m.poll.start``
  needs extensible-event room versions that do not exist yet), with a numbered text
  fallback that tells only the people who may answer how to (``Answerer``);
- the key-information card crosses with its content in a team room, except access
  notes (they may hold a key-safe code): a pointer to CoCare stands in for them; a
  family room only ever gets the pointer;
- an edit made in CoCare of a message written in Matrix cannot be an ``m.replace``
  (clients accept a replacement only from the original sender): it is a reply to the
  original, "Edited in CoCare: ...", from the editor's puppet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TXN_KEY = "org.cocare.txn"
CARD_KEY = "org.cocare.card"
MESSAGE = "m.room.message"
POLL_START = "org.matrix.msc3381.poll.start"
POLL_DISCLOSED = "org.matrix.msc3381.poll.disclosed"
TEXT_BLOCK = "org.matrix.msc1767.text"
FAMILY_VOICE = "family_voice"
KEY_INFO = "key_info"
VISIT_TASKS = "visit_tasks"  # careplan.botcard: each option is a task, ticked by a tap
KEY_INFO_FIELDS = (
    ("preferences", "Preferences"),
    ("what_matters", "What matters"),
    ("communication_needs", "Communication needs"),
)


@dataclass(frozen=True)
class Answerer:
    """Who may answer a card by number: named in the fallback, mentioned if linked."""

    name: str
    matrix_id: str | None = None


@dataclass(frozen=True)
class Rendered:
    """``send``: an event of ``event_type`` with ``content``; ``redact``: redact ``target``."""

    action: str
    content: dict[str, Any]
    target_event_id: str | None = None
    event_type: str = field(default=MESSAGE)


def option_text(option: dict[str, Any]) -> str:
    emoji = option.get("emoji")
    return f"{emoji} {option['label']}" if emoji else str(option["label"])


def how_to_answer(card_type: str, answerer: Answerer | None) -> str:
    """The one line that tells the people who may answer a card how (and nobody else)."""
    if card_type == FAMILY_VOICE:
        who = "Family"
    elif answerer is not None:
        who = answerer.name
    else:
        who = "The visit's care worker"
    if card_type == VISIT_TASKS:  # ticked by taps (poll votes) only, several per card
        return f"{who}: tick each task in the poll when it is done."
    return f"{who}: answer the poll, or reply with a number."


def card_text(title: str, options: list[dict[str, Any]], prompt: str | None = None) -> str:
    """A card as numbered lines (the option's value: a reply with it answers), then who
    may answer and how."""
    lines = [title]
    lines += [f"{o['value']}. {option_text(o)}" for o in options]
    if options and prompt:
        lines.append(prompt)
    return "\n".join(lines)


def key_info_text(payload: dict[str, Any], room_kind: str) -> str:
    """The key-information card: its content for a team room (access notes excepted),
    a pointer for any other room."""
    title = payload.get("title", "Key information")
    data = payload.get("data") or {}
    if room_kind != "professional":
        return f"{title}\nThe key information is in CoCare."
    lines = [title]
    lines += [f"{label}: {data[key]}" for key, label in KEY_INFO_FIELDS if data.get(key)]
    if data.get("access_notes"):
        lines.append("Access notes are not sent to Matrix: open the key information in CoCare.")
    return "\n".join(lines)


def _card(
    payload: dict[str, Any], room_kind: str, answerer: Answerer | None
) -> tuple[str, dict[str, Any]]:
    options = payload.get("options") or []
    marker = {
        CARD_KEY: {"card_id": payload.get("card_id"), "options": [o["value"] for o in options]}
    }
    if payload.get("card_type") == KEY_INFO:
        return MESSAGE, {"msgtype": "m.text", "body": key_info_text(payload, room_kind), **marker}
    title = payload.get("title", "")
    if not options:
        return MESSAGE, {"msgtype": "m.text", "body": title, **marker}
    fallback = card_text(title, options, how_to_answer(payload.get("card_type", ""), answerer))
    content: dict[str, Any] = {
        POLL_START: {
            "kind": POLL_DISCLOSED,
            "max_selections": len(options) if payload.get("card_type") == VISIT_TASKS else 1,
            "question": {TEXT_BLOCK: title, "body": title, "msgtype": "m.text"},
            "answers": [{"id": str(o["value"]), TEXT_BLOCK: option_text(o)} for o in options],
        },
        TEXT_BLOCK: fallback,
        "body": fallback,  # what clients without poll support show
        "msgtype": "m.text",
        **marker,
    }
    if answerer is not None and answerer.matrix_id:
        content["m.mentions"] = {"user_ids": [answerer.matrix_id]}
    return POLL_START, content


ATTACHMENT_EXT = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}


def attachment_content(caption: str, payload: dict[str, Any], media_uri: str) -> dict[str, Any]:
    """``m.image`` for a photo, ``m.file`` for a document; the caption (if any) is the
    ``body`` beside a ``filename`` (Matrix 1.10 captions), else the file name is."""
    mimetype = str(payload.get("content_type", "application/octet-stream"))
    image = mimetype.startswith("image/")
    filename = f"{'photo' if image else 'document'}.{ATTACHMENT_EXT.get(mimetype, 'bin')}"
    info: dict[str, Any] = {"mimetype": mimetype, "size": payload.get("size")}
    if image and payload.get("width") and payload.get("height"):
        info |= {"w": payload["width"], "h": payload["height"]}
    return {
        "msgtype": "m.image" if image else "m.file",
        "body": caption or filename,
        "filename": filename,
        "url": media_uri,
        "info": info,
    }


def render(
    *,
    kind: str,
    body: str,
    payload: dict[str, Any],
    txn_id: str,
    reply_event_id: str | None = None,
    target_event_id: str | None = None,
    answered_label: str | None = None,
    room_kind: str = "professional",
    answerer: Answerer | None = None,
    target_from_matrix: bool = False,
    media_uri: str | None = None,
) -> Rendered | None:
    """The Matrix form of one entry, or None when it does not cross (signals, or an
    amendment whose target never reached Matrix).

    ``target_from_matrix``: the amended entry was written in Matrix by a real user.
    ``media_uri``: for an attachment, its ``mxc://`` (uploaded by ``bridge.media``).
    """
    content: dict[str, Any]
    event_type = MESSAGE
    if kind in ("text", "note"):
        text = body if kind == "text" else f"Clinical note: {body}"
        content = {"msgtype": "m.text", "body": text}
    elif kind == "system":
        content = {"msgtype": "m.notice", "body": body}
    elif kind == "card":
        event_type, content = _card(payload, room_kind, answerer)
    elif kind == "answer":
        label = answered_label or str(payload.get("value"))
        content = {"msgtype": "m.notice", "body": f"Answered: {label}"}
    elif kind == "edit":
        if target_event_id is None:
            return None
        if target_from_matrix:
            content = {
                "msgtype": "m.text",
                "body": f"Edited in CoCare: {body}",
                "m.relates_to": {"m.in_reply_to": {"event_id": target_event_id}},
                TXN_KEY: txn_id,
            }
            return Rendered("send", content)
        new = {"msgtype": "m.text", "body": body}
        content = {
            "msgtype": "m.text",
            "body": f"* {body}",
            "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": target_event_id},
        }
    elif kind == "redaction":
        if target_event_id is None:
            return None
        return Rendered("redact", {}, target_event_id)
    elif kind == "attachment":
        if media_uri is None:
            return None
        content = attachment_content(body, payload, media_uri)
    else:
        return None
    if reply_event_id and kind != "edit":
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_event_id}}
    content[TXN_KEY] = txn_id
    return Rendered("send", content, event_type=event_type)
