"""The one write path for the message log (DESIGN.md §3.1–3.2).

Every entry — from a person over websocket or HTTP, a bot, the Matrix bridge or the
system — is written by :func:`post_message`. People's entries first pass
:func:`check_post_message`, which authorises and applies the human rules (who may edit
or redact what).

Guarantees of ``post_message``:
- idempotent on ``(sender, client_id)``: a retry returns the stored entry, unchanged;
- gap-free per-room ``seq``, from the room row bumped in the insert's own statement
  (PostgreSQL; ``UPDATE ... RETURNING`` then insert on SQLite), its lock held to commit;
- no global lock: rooms commit side by side; cursor readers see entries in a safe order
  through the visibility watermark (``rooms.logorder``, docs/log-contract.md);
- persisted first; live fan-out and the worker poke are scheduled with ``on_commit``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from pydantic import ValidationError

from cocare_chat import clock
from cocare_chat.config import get_config
from rooms import access, publish
from rooms.access import Action, access_room, is_provider_manager
from rooms.errors import Conflict, Forbidden, Invalid
from rooms.models import Message, Person, Room
from rooms.payloads import validate_payload
from rooms.wire import amends_hidden, message_wire

BODY_KINDS = {Message.Kind.TEXT, Message.Kind.NOTE, Message.Kind.SYSTEM, Message.Kind.EDIT}
AMENDABLE_KINDS = {Message.Kind.TEXT, Message.Kind.NOTE}
# What the system may redact (retention): everything that reaches screens and Matrix.
# People are held to AMENDABLE_KINDS by check_post_message.
REDACTABLE_KINDS = AMENDABLE_KINDS | {
    Message.Kind.SYSTEM,
    Message.Kind.CARD,
    Message.Kind.ANSWER,
    Message.Kind.ATTACHMENT,
}
PERSON_KINDS = {
    Message.Kind.TEXT,
    Message.Kind.NOTE,
    Message.Kind.ANSWER,
    Message.Kind.EDIT,
    Message.Kind.REDACTION,
}


@dataclass(frozen=True)
class Posted:
    message: Message
    created: bool


def _pydantic_error_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def post_message(
    *,
    room: Room,
    sender: Person,
    kind: str = Message.Kind.TEXT,
    body: str = "",
    payload: dict[str, Any] | None = None,
    client_id: str | None = None,
    reply_to_seq: int | None = None,
    target_seq: int | None = None,
    now: dt.datetime | None = None,
) -> Posted:
    """Append one entry to ``room``'s log. Structural validation only — no access check.

    Raises Invalid (nothing written) or Conflict (client id reused for another room).
    Locks: the room row only (held to commit); an edit or redaction takes it before
    checking its target.
    """
    body = body or ""
    clean_payload = _validated(kind, body, payload, client_id, target_seq)
    now = now or clock.now()

    with transaction.atomic():
        # Everything that only reads runs before the room row is locked, so the section
        # held to commit is just: bump the room's seq, insert, commit. A repeated client
        # id is found by the unique constraint at insert (no look-up on the common path).
        reply_to = _entry_at(room, reply_to_seq, "reply_to") if reply_to_seq else None
        target = _entry_at(room, target_seq, "target") if target_seq else None
        if target is not None and kind == Message.Kind.EDIT and target.kind not in AMENDABLE_KINDS:
            raise Invalid("Only messages and notes can be edited.")
        if (
            target is not None
            and kind == Message.Kind.REDACTION
            and target.kind not in REDACTABLE_KINDS
        ):
            raise Invalid(f"A {target.kind} entry cannot be redacted.")
        if target is not None:
            # Amendments of one room serialise on its row (taken here, before the
            # check, and kept by the seq bump): two redactions of one entry cannot both
            # pass the check.
            Room.objects.select_for_update(no_key=True).filter(pk=room.pk).values_list("pk").get()
            if Message.objects.filter(pk=target.pk, redacted_at__isnull=False).exists():
                retried = _existing(sender, client_id, room) if client_id else None
                if retried is not None:  # a retry of the redaction that deleted it
                    return Posted(retried, created=False)
                raise Invalid("That message was already deleted.")
        msg = _append(
            Message(
                room_id=room.pk,
                sender=sender,
                client_id=client_id,
                kind=kind,
                body=body,
                payload=clean_payload,
                reply_to=reply_to,
                target=target,
                created_at=now,
            )
        )
        if msg is None:
            # (sender, client_id) is already stored: a retry. Return the stored entry.
            existing = _existing(sender, client_id, room) if client_id else None
            if existing is None:  # pragma: no cover - the conflict needs a client id
                raise Invalid("The entry could not be stored.")
            return Posted(existing, created=False)
        room.last_seq = msg.seq
        if target is not None:
            if kind == Message.Kind.EDIT:
                target.edited_body = body
                target.edited_at = now
                target.save(update_fields=["edited_body", "edited_at"])
            else:
                target.redacted_at = now
                target.save(update_fields=["redacted_at"])
        publish.message_on_commit(room.pk, message_wire(msg))
        publish.poke_workers_on_commit()
    return Posted(msg, created=True)


def _validated(
    kind: str,
    body: str,
    payload: dict[str, Any] | None,
    client_id: str | None,
    target_seq: int | None,
) -> dict[str, Any]:
    """The structural rules of an entry (nothing read from the database); the clean
    payload, or Invalid."""
    if kind not in Message.Kind.values:
        raise Invalid(f"Unknown message kind {kind!r}.")
    if client_id is not None and not (1 <= len(client_id) <= 64):
        raise Invalid("client_id must be 1 to 64 characters.")
    limit = get_config().max_message_chars
    if len(body) > limit:
        raise Invalid(f"Message is too long ({len(body)} characters; the limit is {limit}).")
    if kind in BODY_KINDS and not body.strip():
        raise Invalid("Message body is empty.")
    if "\x00" in body:
        raise Invalid("Message body contains a NUL character.")
    try:
        clean_payload = validate_payload(kind, payload)
    except ValidationError as exc:
        raise Invalid(f"Invalid payload: {_pydantic_error_text(exc)}") from None
    if kind in (Message.Kind.EDIT, Message.Kind.REDACTION) and target_seq is None:
        raise Invalid(f"A {kind} needs a target seq.")
    return clean_payload


def _existing(sender: Person, client_id: str, room: Room) -> Message | None:
    existing = (
        Message.objects.select_related("sender", "reply_to", "target")
        .filter(sender=sender, client_id=client_id)
        .first()
    )
    if existing is not None and existing.room_id != room.pk:
        raise Conflict("client_id was already used for another room.")
    return existing


# One statement on PostgreSQL: bump the room's seq (the row lock lasts to commit, so seq
# is gap-free and commits in order within the room) and insert with it. A client id
# already stored inserts nothing (ON CONFLICT), and the bump is undone under the same row
# lock. ``txid`` is filled by the column default (rooms.models.CurrentTxid).
_PG_APPEND = """
WITH r AS (
  UPDATE rooms_room SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq
)
INSERT INTO rooms_message
  (room_id, seq, sender_id, client_id, kind, body, payload, reply_to_id, target_id,
   created_at)
SELECT %s, r.last_seq, %s, %s, %s, %s, %s::jsonb, %s, %s, %s FROM r
ON CONFLICT (sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
RETURNING id, seq, txid
"""


def _append(msg: Message) -> Message | None:
    """Give ``msg`` the room's next seq and insert it; None if its client id is taken.

    Locks: the room row (to commit). Nothing global: other rooms commit side by side,
    and readers follow the visibility watermark (``rooms.logorder``).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                _PG_APPEND,
                [
                    msg.room_id,
                    msg.room_id,
                    msg.sender_id,
                    msg.client_id,
                    msg.kind,
                    msg.body,
                    json.dumps(msg.payload),
                    msg.reply_to_id,
                    msg.target_id,
                    msg.created_at,
                ],
            )
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    "UPDATE rooms_room SET last_seq = last_seq - 1 WHERE id = %s", [msg.room_id]
                )
                return None
        msg.id, msg.seq, msg.txid = row
        msg._state.adding = False
        msg._state.db = connection.alias
        return msg
    try:
        with transaction.atomic():  # savepoint: a lost race on client_id undoes the seq
            msg.seq = _next_seq(msg.room_id)
            msg.save(force_insert=True)
    except IntegrityError:
        if msg.client_id is None:
            raise
        return None
    return msg


def _next_seq(room_id: int) -> int:
    """Bump and return the room's seq in one statement (the row lock lasts to commit)."""
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE rooms_room SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq",
            [room_id],
        )
        return cur.fetchone()[0]


# A person's new text, note or answer on PostgreSQL, in one statement: the access rule
# (``rooms.access.POST_GRANT_SQL``, which yields the room only when this person may post
# there now), the seq bump of that room and the insert. ``bumped`` tells a refusal (no
# bump, nothing written) from a retried client id (bumped, nothing inserted: the bump is
# undone under the same row lock, as in ``_PG_APPEND``). A note is accepted only in the
# team room; anything refused is answered by the general path, which says why.
_PG_GRANTED_APPEND = f"""
WITH a AS ({access.POST_GRANT_SQL}),
r AS (
  UPDATE rooms_room SET last_seq = last_seq + 1
  WHERE id = (SELECT a.id FROM a WHERE %s <> '{Message.Kind.NOTE.value}'
                                    OR a.kind = '{Room.Kind.PROFESSIONAL.value}')
  RETURNING last_seq
),
i AS (
  INSERT INTO rooms_message
    (room_id, seq, sender_id, client_id, kind, body, payload, reply_to_id, target_id,
     created_at)
  SELECT %s, r.last_seq, %s, %s, %s, %s, %s::jsonb, NULL, NULL, %s FROM r
  ON CONFLICT (sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING
  RETURNING id, seq, txid
)
SELECT (SELECT count(*) FROM r), i.id, i.seq, i.txid FROM (SELECT 1) one LEFT JOIN i ON true
"""  # noqa: S608 (fixed names only; every value is a parameter)

# Kinds a person posts with no reference to another entry: these take the one-statement
# path. Replies, edits and redactions read their referenced entry, which must not happen
# before access is decided (it would tell a non-member which seqs exist).
_GRANTED_KINDS = frozenset({Message.Kind.TEXT, Message.Kind.NOTE, Message.Kind.ANSWER})
_MAX_ID = 2**63 - 1  # ids are bigint; others go to the ORM, which answers "no such room"


def _post_granted(
    person: Person,
    room_id: int,
    kind: str,
    body: str,
    payload: dict[str, Any] | None,
    client_id: str | None,
    now: dt.datetime | None,
) -> Posted | None:
    """Post a person's plain entry if access and the room's kind allow it, deciding access
    in the write itself (PostgreSQL: one statement; SQLite: one access query, then the
    insert). None when nothing was written: refused, invalid, or a retried client id —
    the caller's general path then answers exactly as it always did (access first)."""
    try:
        clean_payload = _validated(kind, body, payload, client_id, None)
    except Invalid:
        return None  # access is decided before a structural error is reported
    now = now or clock.now()
    msg = Message(
        room_id=room_id,
        sender=person,
        client_id=client_id,
        kind=kind,
        body=body,
        payload=clean_payload,
        created_at=now,
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute(
                    _PG_GRANTED_APPEND,
                    [
                        person.pk,
                        room_id,
                        kind,
                        room_id,
                        person.pk,
                        client_id,
                        kind,
                        body,
                        json.dumps(clean_payload),
                        now,
                    ],
                )
                bumped, msg_id, seq, txid = cur.fetchone()
                if msg_id is None:
                    if bumped:  # a retried client id: undo the bump, under the row lock
                        cur.execute(
                            "UPDATE rooms_room SET last_seq = last_seq - 1 WHERE id = %s",
                            [room_id],
                        )
                    return None
            msg.id, msg.seq, msg.txid = msg_id, seq, txid
            msg._state.adding = False
            msg._state.db = connection.alias
        else:
            room_kind = access.may_post(person.pk, room_id)
            if room_kind is None or (
                kind == Message.Kind.NOTE and room_kind != Room.Kind.PROFESSIONAL
            ):
                return None
            if _append(msg) is None:
                return None
        publish.message_on_commit(room_id, message_wire(msg))
        publish.poke_workers_on_commit()
    return Posted(msg, created=True)


def _entry_at(room: Room, seq: int, what: str) -> Message:
    m = Message.objects.filter(room=room, seq=seq).select_related("sender").first()
    if m is None:
        raise Invalid(f"{what}: no message {seq} in this room.")
    return m


def check_post_message(
    *,
    person: Person,
    room_id: int,
    kind: str = Message.Kind.TEXT,
    body: str = "",
    payload: dict[str, Any] | None = None,
    client_id: str | None = None,
    reply_to_seq: int | None = None,
    target_seq: int | None = None,
    now: dt.datetime | None = None,
) -> Posted:
    """Authorise a person's entry, apply the human rules, then ``post_message``.

    - people post text, notes, card answers, edits and redactions — never system
      notices, cards or signals;
    - nothing in the rooms of a service user whose care has ended (archived);
    - clinical notes only in the professional room;
    - an edit only of one's own message; a redaction of one's own, or by the provider's
      care manager (moderation).
    """
    if (
        kind in _GRANTED_KINDS
        and reply_to_seq is None
        and target_seq is None
        and 0 < room_id <= _MAX_ID  # a raw statement must not see an id no column holds
    ):
        # The common case, access decided inside the write (``_post_granted``); whatever
        # it did not write comes to the general path below for its answer.
        posted = _post_granted(person, room_id, kind, body or "", payload, client_id, now)
        if posted is not None:
            return posted
    room, _ = access_room(person, room_id, Action.POST)  # refuses archived rooms too
    if kind not in PERSON_KINDS:
        raise Forbidden(f"People cannot post {kind!r} entries.")
    if kind == Message.Kind.NOTE and room.kind != Room.Kind.PROFESSIONAL:
        raise Invalid("Clinical notes belong in the team room.")
    if kind in (Message.Kind.EDIT, Message.Kind.REDACTION) and target_seq is not None:
        target = Message.objects.filter(room=room, seq=target_seq).first()
        # post_message already refuses edits of other kinds; redactions it allows wider
        # (for retention), so the narrower human rule for deleting is stated here.
        if (
            target is not None
            and kind == Message.Kind.REDACTION
            and target.kind not in AMENDABLE_KINDS
        ):
            raise Invalid("Only messages and notes can be deleted.")
        if target is not None and target.sender_id != person.id:
            manager = is_provider_manager(person, room.service_user)
            if kind == Message.Kind.EDIT or not manager:
                raise Forbidden("You can only change your own messages.")
    return post_message(
        room=room,
        sender=person,
        kind=kind,
        body=body,
        payload=payload,
        client_id=client_id,
        reply_to_seq=reply_to_seq,
        target_seq=target_seq,
        now=now,
    )


def history(
    room: Room,
    *,
    after_seq: int = 0,
    visible_from: int = 0,
    limit: int = 100,
    before_seq: int | None = None,
):
    """Entries after ``after_seq`` in seq order, never at or before ``visible_from``.

    With ``before_seq``: the ``limit`` entries just before it (older history, read by
    scrolling up), still in seq order and still never at or before ``visible_from``.

    An edit or redaction (after ``visible_from``) of an entry at or before it comes back
    concealed — body, payload and target cleared, as ``wire.for_member`` does for live
    fan-out — so a late joiner never reads an old message's new text. The concealment is
    in memory only: these rows are for reading, never save them.
    """
    start = max(after_seq, visible_from)
    qs = Message.objects.filter(room=room, seq__gt=start).select_related(
        "sender", "reply_to", "target"
    )
    if before_seq is None:
        rows = list(qs.order_by("seq")[:limit])
    else:
        rows = list(qs.filter(seq__lt=before_seq).order_by("-seq")[:limit])[::-1]
    for m in rows:
        if m.target_id is not None and amends_hidden(m.target.seq, visible_from):
            m.body, m.edited_body, m.payload, m.target = "", None, {}, None
    return rows
