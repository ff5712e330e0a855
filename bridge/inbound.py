"""Matrix -> CoCare: one appservice transaction, processed in one database transaction.

Guarantees:
- each event is processed once (``InboundEvent`` unique on ``event_id``), and the CoCare
  entry it makes is idempotent on ``(person, "mx:"+sha256(event_id))`` too. The
  transaction id decides nothing: Synapse on SQLite numbers transactions from 1 again
  after every restart, so a "seen" transaction id can carry new events;
- events of our own puppets and bot are echoes: never new input;
- only ``m.room.message`` / redaction / poll responses from a Matrix user *linked* to a
  CoCare person whom ``rooms.access`` lets post in the mapped room reach the record, and
  they go through ``rooms.messages.check_post_message`` as that person. Anyone else gets a
  notice from the bridge bot (queued as a ``BridgeAction``) and nothing is written;
- a Matrix user who joins (or is invited to) a bridged room without CoCare access is
  queued for a kick;
- a photo or file (``m.image``/``m.file``) from such a member is queued here and fetched
  and stored by ``bridge.media.MediaFetcher`` (no network inside this transaction);
- nothing is dropped silently: an event from a linked member that is not recorded (a
  video, an over-long or refused message, an unknown poll) gets a notice from the
  bridge bot, in reply to it, saying what was not recorded and why; a card answer that
  landed is confirmed ("Recorded: ...").

Each event runs in a savepoint: one malformed event is recorded ``failed`` and skipped,
it never blocks the transaction behind it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from django.db import transaction
from pydantic import ValidationError

from bridge.cards import card_answered_by_number, poll_answer_recorded
from bridge.conf import BridgeConfig
from bridge.events import (
    MatrixEvent,
    MemberContent,
    MessageContent,
    NewContent,
    PollResponseContent,
    RedactionContent,
)
from bridge.media import media_content, queue_inbound
from bridge.models import (
    AppserviceTransaction,
    BridgeAction,
    BridgedRoom,
    EventLink,
    InboundEvent,
    MatrixMember,
    OutboxEntry,
)
from bridge.render import TXN_KEY, VISIT_TASKS
from cocare_chat.config import get_config
from rooms.access import Action, allowed
from rooms.errors import CoCareError
from rooms.messages import check_post_message
from rooms.models import Message, Person

log = logging.getLogger(__name__)
Outcome = InboundEvent.Outcome
TEXT_MSGTYPES = {"m.text", "m.notice", "m.emote"}
MEDIA_MSGTYPES = {"m.image", "m.file", "m.video", "m.audio"}
POLL_RESPONSE_TYPES = {"m.poll.response", "org.matrix.msc3381.poll.response"}
POLL_START_TYPES = {"m.poll.start", "org.matrix.msc3381.poll.start"}
# What the bridge bot says about content it did not record (never the content itself).
NOT_RECORDED = "Not added to the CoCare record: {why}"
WHY_MEDIA = "only photos and PDF files are kept in the CoCare record (not videos or audio)."
WHY = {
    "media": WHY_MEDIA,
    "encrypted_media": "encrypted files cannot be read by the bridge.",
    "sticker": "stickers are not kept in the CoCare record.",
    "msgtype": "this kind of message ({what}) cannot be recorded in CoCare.",
    "too_long": "the message is {length} characters long; CoCare keeps messages of up "
    "to {limit}. Please send it in shorter parts.",
    "encrypted": "encrypted messages cannot be read by the bridge.",
    "poll_start": "polls started in Matrix are not recorded in CoCare.",
    "poll_unknown": "that poll is not a CoCare card.",
    "poll_option": "that is not one of the card's options.",
    "edit_unlinked": "the edited message is not in the CoCare record.",
    "reaction": "reactions are not recorded in CoCare (this notice is shown once).",
}


class NotRecorded(Exception):
    """An event from a linked member that CoCare does not record: ``why`` says why."""

    def __init__(self, reason: str, **facts: object):
        super().__init__(reason)
        self.reason = reason
        self.why = WHY[reason].format(**facts)


def client_id_for(event_id: str) -> str:
    """Deterministic CoCare client id of a Matrix event: retries are idempotent."""
    return ("mx:" + hashlib.sha256(event_id.encode()).hexdigest())[:64]


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> quoted`` lines older clients prepend to a reply's body."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    rest = "\n".join(lines[i:]).lstrip("\n")
    return rest or body


def process_transaction(
    txn_id: str, events: list[dict[str, Any]], cfg: BridgeConfig, now: dt.datetime
) -> int:
    """Apply one appservice transaction, one committed event at a time; returns the number
    of new events.

    Each event commits on its own (its entry, its ``InboundEvent`` row): a transaction
    of up to 10,000 events holds no lock and no transaction id across the batch (which
    would hold back every log reader's watermark, docs/log-contract.md). Homeserver
    retries are safe because ``InboundEvent.event_id`` is unique: events committed before
    a crash are skipped on the retry. The caller acknowledges only after this returns.
    """
    done = 0
    for raw in events:
        with transaction.atomic():
            done += _process_safely(raw, cfg, now)
    # Kept for the operator only. The id is NOT a dedupe key: it restarts at 1 when
    # Synapse (on SQLite) restarts, and its events are new (issue 13).
    AppserviceTransaction.objects.update_or_create(
        txn_id=txn_id, defaults={"events": len(events), "received_at": now}
    )
    return done


def _process_safely(raw: dict[str, Any], cfg: BridgeConfig, now: dt.datetime) -> int:
    try:
        ev = MatrixEvent.model_validate(raw)
    except ValidationError:
        log.warning("appservice: dropped a malformed event")
        return 0
    if InboundEvent.objects.filter(event_id=ev.event_id).exists():
        return 0
    try:
        with transaction.atomic():
            outcome, reason, msg = _process(ev, cfg, now)
            _record(ev, outcome, reason, msg, now)
    except Exception as exc:
        log.warning("appservice: event failed (%s)", type(exc).__name__)
        _record(ev, Outcome.FAILED, type(exc).__name__, None, now)
    return 1


def _record(
    ev: MatrixEvent, outcome: str, reason: str, msg: Message | None, now: dt.datetime
) -> None:
    InboundEvent.objects.create(
        event_id=ev.event_id,
        matrix_room_id=ev.room_id,
        sender=ev.sender,
        event_type=ev.type[:100],
        outcome=outcome,
        reason=reason[:60],
        message=msg,
        received_at=now,
    )


def _process(
    ev: MatrixEvent, cfg: BridgeConfig, now: dt.datetime
) -> tuple[str, str, Message | None]:
    bridged = (
        BridgedRoom.objects.select_related("room__service_user")
        .filter(matrix_room_id=ev.room_id)
        .first()
    )
    if bridged is None:
        return Outcome.IGNORED, "unbridged_room", None
    if ev.type == "m.room.member":
        return _membership(ev, bridged, cfg, now)
    if cfg.is_ours(ev.sender):
        _confirm_echo(ev, now)
        return Outcome.ECHO, "", None
    if ev.type not in CONTENT_TYPES:
        return Outcome.IGNORED, "event_type", None
    person = Person.objects.filter(matrix_id=ev.sender).first()
    if person is None or not allowed(person, bridged.room, Action.POST):
        _queue(BridgeAction.Kind.NOTICE, f"notice:{ev.event_id}", ev.room_id, ev.sender, now)
        return Outcome.REFUSED, "not_linked_member", None
    try:
        msg = _post(ev, bridged, person, now)
    except MediaQueued:  # fetched and recorded by bridge.media.MediaFetcher
        return Outcome.POSTED, "media_queued", None
    except NotRecorded as exc:
        key = (
            f"drop:reaction:{ev.room_id}:{ev.sender}"
            if exc.reason == "reaction"
            else f"drop:{ev.event_id}"
        )
        _notice(key, ev, NOT_RECORDED.format(why=exc.why), now)
        return Outcome.REFUSED, exc.reason, None
    except CoCareError as exc:
        # The write path's own words ("You can only change your own messages.", the
        # length limit ...): generic, never the content.
        _notice(f"drop:{ev.event_id}", ev, NOT_RECORDED.format(why=exc.message), now)
        return Outcome.REFUSED, exc.code, None
    except ValidationError:
        _notice(
            f"drop:{ev.event_id}",
            ev,
            NOT_RECORDED.format(why="the event was not in a form CoCare understands."),
            now,
        )
        return Outcome.REFUSED, "invalid_content", None
    if msg is None:
        return Outcome.IGNORED, "unsupported", None
    EventLink.objects.get_or_create(
        event_id=ev.event_id, defaults={"message": msg, "direction": EventLink.Direction.INBOUND}
    )
    _confirm_answer(ev, bridged, msg, now)
    return Outcome.POSTED, "", msg


def _linked(event_id: str | None, bridged: BridgedRoom) -> Message | None:
    if not event_id:
        return None
    link = EventLink.objects.select_related("message").filter(event_id=event_id).first()
    if link is None or link.message.room_id != bridged.room_id:
        return None
    return link.message


def _post(
    ev: MatrixEvent, bridged: BridgedRoom, person: Person, now: dt.datetime
) -> Message | None:
    common = {
        "person": person,
        "room_id": bridged.room_id,
        "client_id": client_id_for(ev.event_id),
        "now": now,
    }
    if ev.type == "m.room.redaction":
        target = _linked(ev.redacts or RedactionContent.model_validate(ev.content).redacts, bridged)
        if target is None:
            return None
        return check_post_message(kind="redaction", target_seq=target.seq, **common).message
    if ev.type in POLL_RESPONSE_TYPES:
        return _poll_answer(ev, bridged, common)
    if ev.type in DROPPED_TYPES:
        raise NotRecorded(DROPPED_TYPES[ev.type])
    content = MessageContent.model_validate(ev.content)
    if content.msgtype in MEDIA_MSGTYPES:
        _queue_media(ev, bridged, person, now)  # raises MediaQueued or NotRecorded
    if content.msgtype not in TEXT_MSGTYPES:
        raise NotRecorded("msgtype", what=content.msgtype[:40])
    rel = content.relates_to
    if rel is not None and rel.rel_type == "m.replace":
        target = _linked(rel.event_id, bridged)
        if target is None:
            raise NotRecorded("edit_unlinked")
        if content.new_content is None:
            return None
        return check_post_message(
            kind="edit", body=_text(content.new_content, person), target_seq=target.seq, **common
        ).message
    reply = _linked(rel.in_reply_to.event_id, bridged) if rel and rel.in_reply_to else None
    body = strip_reply_fallback(content.body) if reply is not None else content.body
    return check_post_message(
        kind="text",
        body=_text(content.model_copy(update={"body": body}), person),
        reply_to_seq=reply.seq if reply else None,
        **common,
    ).message


class MediaQueued(Exception):
    """A member's photo or file was queued for ``bridge.media.MediaFetcher``."""


def _queue_media(ev: MatrixEvent, bridged: BridgedRoom, person: Person, now: dt.datetime) -> None:
    """Queue an ``m.image``/``m.file`` (no network in this transaction); anything else a
    media event can be is refused with a notice saying why."""
    if "file" in ev.content and "url" not in ev.content:
        raise NotRecorded("encrypted_media")
    media = media_content(ev.content)
    if media is None:
        raise NotRecorded("media")
    queue_inbound(
        event_id=ev.event_id,
        matrix_room_id=ev.room_id,
        sender=ev.sender,
        room_id=bridged.room_id,
        person_id=person.id,
        client_id=client_id_for(ev.event_id),
        media=media,
        now=now,
    )
    raise MediaQueued


def _text(content: MessageContent | NewContent, person: Person) -> str:
    """The text CoCare records: an emote reads "* Nadia Shah waves"; a text over the
    limit is refused with a notice, never cut (the record must not silently change)."""
    body = content.body
    if content.msgtype == "m.emote":
        body = f"* {person.display_name} {body}"
    limit = get_config().max_message_chars
    if len(body) > limit:
        raise NotRecorded("too_long", length=len(body), limit=limit)
    return body


def _poll_answer(ev: MatrixEvent, bridged: BridgedRoom, common: dict) -> Message | None:
    """An MSC3381 poll response to a bridged card becomes an ``answer`` entry."""
    content = PollResponseContent.model_validate(ev.content)
    card = _linked(content.relates_to.event_id, bridged)
    picked = content.answers()
    if card is None or card.kind != Message.Kind.CARD:
        raise NotRecorded("poll_unknown")
    if not picked:
        return None  # an emptied vote: nothing to record
    values = {str(o["value"]) for o in card.payload.get("options", [])}
    if card.payload.get("card_type") == VISIT_TASKS:
        return _tasks_ticked(ev, card, picked, values, common)
    if picked[0] not in values:
        raise NotRecorded("poll_option")
    return check_post_message(
        kind="answer",
        payload={"card_id": card.payload["card_id"], "value": int(picked[0]), "via": "matrix"},
        **common,
    ).message


def _tasks_ticked(
    ev: MatrixEvent, card: Message, picked: list[str], values: set[str], common: dict
) -> Message | None:
    """A multi-select vote on a care-plan tasks card: one ``answer`` entry (a tap) per task
    newly selected by her, each idempotent on (event, task). A vote only ever adds ticks:
    un-selecting in Matrix does not untick a task in CoCare (the visit card does that)."""
    if any(v not in values for v in picked):
        raise NotRecorded("poll_option")
    done = {
        str(v)
        for v in Message.objects.filter(
            room_id=card.room_id,
            kind=Message.Kind.ANSWER,
            sender=common["person"],
            payload__card_id=card.payload["card_id"],
        ).values_list("payload__value", flat=True)
    }
    first = None
    for value in sorted(set(picked) - done, key=int):
        msg = check_post_message(
            kind="answer",
            payload={"card_id": card.payload["card_id"], "value": int(value), "via": "matrix"},
            **{**common, "client_id": client_id_for(f"{ev.event_id}:{value}")},
        ).message
        first = first or msg
    return first


def _membership(
    ev: MatrixEvent, bridged: BridgedRoom, cfg: BridgeConfig, now: dt.datetime
) -> tuple[str, str, Message | None]:
    target = ev.state_key or ""
    content = MemberContent.model_validate(ev.content)
    if cfg.is_ours(target):
        return Outcome.MEMBER, "ours", None
    state = {"join": MatrixMember.State.JOINED, "invite": MatrixMember.State.INVITED}.get(
        content.membership
    )
    if state is None:  # leave or ban: her own choice, or the bridge (or a moderator) did it
        state = MatrixMember.State.LEFT if ev.sender == target else MatrixMember.State.KICKED
    if state != MatrixMember.State.LEFT:
        person = Person.objects.filter(matrix_id=target).first()
        if person is None or not allowed(person, bridged.room, Action.READ):
            _queue(BridgeAction.Kind.KICK, f"kick:{ev.event_id}", ev.room_id, target, now)
            return Outcome.MEMBER, "intruder", None
    member = MatrixMember.objects.filter(bridged_room=bridged, user_id=target).first()
    if member is None:
        MatrixMember.objects.create(
            bridged_room=bridged, user_id=target, state=state, updated_at=now
        )
    elif member.state != MatrixMember.State.KICKED or state == MatrixMember.State.JOINED:
        member.state = state
        member.updated_at = now
        member.failures = 0
        member.next_attempt_at = None
        member.save(update_fields=["state", "updated_at", "failures", "next_attempt_at"])
    return Outcome.MEMBER, content.membership[:20], None


def _confirm_echo(ev: MatrixEvent, now: dt.datetime) -> None:
    """Our own event came back: if its send was never confirmed, record it now."""
    txn = ev.content.get(TXN_KEY) if isinstance(ev.content, dict) else None
    if not isinstance(txn, str):
        return
    entry = OutboxEntry.objects.filter(txn_id=txn, status=OutboxEntry.Status.PENDING).first()
    if entry is None:
        return
    OutboxEntry.objects.filter(pk=entry.pk, status=OutboxEntry.Status.PENDING).update(
        status=OutboxEntry.Status.SENT, event_id=ev.event_id, sent_at=now
    )
    EventLink.objects.get_or_create(
        event_id=ev.event_id,
        defaults={"message_id": entry.message_id, "direction": EventLink.Direction.OUTBOUND},
    )


def _queue(kind: str, key: str, room_id: str, user_id: str, now: dt.datetime) -> None:
    BridgeAction.objects.get_or_create(
        key=key[:300],
        defaults={"kind": kind, "matrix_room_id": room_id, "user_id": user_id, "created_at": now},
    )


def _notice(
    key: str,
    ev: MatrixEvent,
    body: str,
    now: dt.datetime,
    message: Message | None = None,
    reply_to: str | None = None,
) -> None:
    """A bridge-bot notice in reply to ``ev`` (or ``reply_to``), addressed to its sender."""
    BridgeAction.objects.get_or_create(
        key=key[:300],
        defaults={
            "kind": BridgeAction.Kind.NOTICE,
            "matrix_room_id": ev.room_id,
            "user_id": ev.sender,
            "body": body,
            "reply_to_event_id": reply_to or ev.event_id,
            "message": message,
            "created_at": now,
        },
    )


def _confirm_answer(ev: MatrixEvent, bridged: BridgedRoom, msg: Message, now: dt.datetime) -> None:
    """Confirm in Matrix a card answer that landed on an open card (bridge.cards)."""
    if msg.kind == Message.Kind.ANSWER:
        card = (
            Message.objects.filter(
                room_id=msg.room_id,
                kind=Message.Kind.CARD,
                payload__card_id=msg.payload.get("card_id"),
            )
            .order_by("-id")
            .first()
        )
        label = poll_answer_recorded(card, msg, now) if card is not None else None
        if label is not None:
            card_event = (
                EventLink.objects.filter(message=card).values_list("event_id", flat=True).first()
            )
            _notice(
                f"confirm:{ev.event_id}",
                ev,
                f"Recorded: {label} ({msg.sender.display_name})",
                now,
                message=msg,
                reply_to=card_event or ev.event_id,
            )
    elif msg.kind == Message.Kind.TEXT:
        found = card_answered_by_number(msg, now)
        if found is not None:
            _notice(f"confirm:{ev.event_id}", ev, f"Recorded: {found[1]}", now, message=msg)


# Event types a linked member sends that carry content CoCare does not keep.
DROPPED_TYPES = {
    "m.sticker": "sticker",
    "m.room.encrypted": "encrypted",
    "m.reaction": "reaction",
    **{t: "poll_start" for t in POLL_START_TYPES},
}
CONTENT_TYPES = {"m.room.message", "m.room.redaction", *POLL_RESPONSE_TYPES, *DROPPED_TYPES}
