"""Matrix -> CoCare: one appservice transaction, processed in one database transaction.

Guarantees:
- a transaction id already committed is acknowledged without effect (``AppserviceTransaction``);
- each event is processed once (``InboundEvent`` unique on ``event_id``), and the CoCare
  entry it makes is idempotent on ``(person, "mx:"+sha256(event_id))`` too;
- events of our own puppets and bot are echoes: never new input;
- only ``m.room.message`` / redaction / poll responses from a Matrix user *linked* to a
  CoCare person whom ``rooms.access`` lets post in the mapped room reach the record, and
  they go through ``rooms.messages.check_post_message`` as that person. Anyone else gets a
  notice from the bridge bot (queued as a ``BridgeAction``) and nothing is written;
- a Matrix user who joins (or is invited to) a bridged room without CoCare access is
  queued for a kick.

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

from bridge.conf import BridgeConfig
from bridge.events import (
    MatrixEvent,
    MemberContent,
    MessageContent,
    PollResponseContent,
    RedactionContent,
)
from bridge.models import (
    AppserviceTransaction,
    BridgeAction,
    BridgedRoom,
    EventLink,
    InboundEvent,
    MatrixMember,
    OutboxEntry,
)
from bridge.render import TXN_KEY
from rooms.access import Action, allowed
from rooms.errors import CoCareError
from rooms.messages import check_post_message
from rooms.models import Message, Person

log = logging.getLogger(__name__)
Outcome = InboundEvent.Outcome
TEXT_MSGTYPES = {"m.text", "m.notice", "m.emote"}
POLL_RESPONSE_TYPES = {"m.poll.response", "org.matrix.msc3381.poll.response"}


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


def process_transaction(txn_id: str, events: list[dict[str, Any]], cfg: BridgeConfig,
                        now: dt.datetime) -> int:
    """Apply one appservice transaction atomically; returns the number of new events."""
    with transaction.atomic():
        if AppserviceTransaction.objects.filter(txn_id=txn_id).exists():
            return 0
        done = 0
        for raw in events:
            done += _process_safely(raw, cfg, now)
        AppserviceTransaction.objects.create(txn_id=txn_id, events=len(events), received_at=now)
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


def _record(ev: MatrixEvent, outcome: str, reason: str, msg: Message | None,
            now: dt.datetime) -> None:
    InboundEvent.objects.create(event_id=ev.event_id, matrix_room_id=ev.room_id,
                                sender=ev.sender, event_type=ev.type[:100], outcome=outcome,
                                reason=reason[:60], message=msg, received_at=now)


def _process(ev: MatrixEvent, cfg: BridgeConfig, now: dt.datetime
             ) -> tuple[str, str, Message | None]:
    bridged = BridgedRoom.objects.select_related("room__service_user").filter(
        matrix_room_id=ev.room_id).first()
    if bridged is None:
        return Outcome.IGNORED, "unbridged_room", None
    if ev.type == "m.room.member":
        return _membership(ev, bridged, cfg, now)
    if cfg.is_ours(ev.sender):
        _confirm_echo(ev, now)
        return Outcome.ECHO, "", None
    if ev.type != "m.room.message" and ev.type != "m.room.redaction" \
            and ev.type not in POLL_RESPONSE_TYPES:
        return Outcome.IGNORED, "event_type", None
    person = Person.objects.filter(matrix_id=ev.sender).first()
    if person is None or not allowed(person, bridged.room, Action.POST):
        _queue(BridgeAction.Kind.NOTICE, f"notice:{ev.event_id}", ev.room_id, ev.sender, now)
        return Outcome.REFUSED, "not_linked_member", None
    try:
        msg = _post(ev, bridged, person, now)
    except CoCareError as exc:
        return Outcome.REFUSED, exc.code, None
    except ValidationError:
        return Outcome.REFUSED, "invalid_content", None
    if msg is None:
        return Outcome.IGNORED, "unsupported", None
    EventLink.objects.get_or_create(event_id=ev.event_id, defaults={
        "message": msg, "direction": EventLink.Direction.INBOUND})
    return Outcome.POSTED, "", msg


def _linked(event_id: str | None, bridged: BridgedRoom) -> Message | None:
    if not event_id:
        return None
    link = EventLink.objects.select_related("message").filter(event_id=event_id).first()
    if link is None or link.message.room_id != bridged.room_id:
        return None
    return link.message


def _post(ev: MatrixEvent, bridged: BridgedRoom, person: Person, now: dt.datetime
          ) -> Message | None:
    common = {"person": person, "room_id": bridged.room_id,
              "client_id": client_id_for(ev.event_id), "now": now}
    if ev.type == "m.room.redaction":
        target = _linked(ev.redacts or RedactionContent.model_validate(ev.content).redacts,
                         bridged)
        if target is None:
            return None
        return check_post_message(kind="redaction", target_seq=target.seq, **common).message
    if ev.type in POLL_RESPONSE_TYPES:
        return _poll_answer(ev, bridged, common)
    content = MessageContent.model_validate(ev.content)
    if content.msgtype not in TEXT_MSGTYPES:
        return None
    rel = content.relates_to
    if rel is not None and rel.rel_type == "m.replace":
        target = _linked(rel.event_id, bridged)
        if target is None or content.new_content is None:
            return None
        return check_post_message(kind="edit", body=content.new_content.body,
                                  target_seq=target.seq, **common).message
    reply = _linked(rel.in_reply_to.event_id, bridged) if rel and rel.in_reply_to else None
    body = strip_reply_fallback(content.body) if reply is not None else content.body
    return check_post_message(kind="text", body=body,
                              reply_to_seq=reply.seq if reply else None, **common).message


def _poll_answer(ev: MatrixEvent, bridged: BridgedRoom, common: dict) -> Message | None:
    """An MSC3381 poll response to a bridged card becomes an ``answer`` entry."""
    content = PollResponseContent.model_validate(ev.content)
    card = _linked(content.relates_to.event_id, bridged)
    picked = content.answers()
    if card is None or card.kind != Message.Kind.CARD or not picked:
        return None
    values = {str(o["value"]) for o in card.payload.get("options", [])}
    if picked[0] not in values:
        return None
    return check_post_message(kind="answer", payload={
        "card_id": card.payload["card_id"], "value": int(picked[0]), "via": "matrix"},
        **common).message


def _membership(ev: MatrixEvent, bridged: BridgedRoom, cfg: BridgeConfig, now: dt.datetime
                ) -> tuple[str, str, Message | None]:
    target = ev.state_key or ""
    content = MemberContent.model_validate(ev.content)
    if cfg.is_ours(target):
        return Outcome.MEMBER, "ours", None
    state = {"join": MatrixMember.State.JOINED, "invite": MatrixMember.State.INVITED}.get(
        content.membership, MatrixMember.State.LEFT)
    if state != MatrixMember.State.LEFT:
        person = Person.objects.filter(matrix_id=target).first()
        if person is None or not allowed(person, bridged.room, Action.READ):
            _queue(BridgeAction.Kind.KICK, f"kick:{ev.event_id}", ev.room_id, target, now)
            return Outcome.MEMBER, "intruder", None
    member = MatrixMember.objects.filter(bridged_room=bridged, user_id=target).first()
    if member is None:
        MatrixMember.objects.create(bridged_room=bridged, user_id=target, state=state,
                                    updated_at=now)
    elif member.state != MatrixMember.State.KICKED or state == MatrixMember.State.JOINED:
        member.state = state
        member.updated_at = now
        member.save(update_fields=["state", "updated_at"])
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
        status=OutboxEntry.Status.SENT, event_id=ev.event_id, sent_at=now)
    EventLink.objects.get_or_create(event_id=ev.event_id, defaults={
        "message_id": entry.message_id, "direction": EventLink.Direction.OUTBOUND})


def _queue(kind: str, key: str, room_id: str, user_id: str, now: dt.datetime) -> None:
    BridgeAction.objects.get_or_create(key=key[:300], defaults={
        "kind": kind, "matrix_room_id": room_id, "user_id": user_id, "created_at": now})
