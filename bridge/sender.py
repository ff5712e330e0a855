"""CoCare -> Matrix, part 2: the sender that drains the outbox (a worker, ``run_once``).

Guarantees:
- **per-room order**: a room's entries go out strictly in seq order; when one cannot be
  sent (homeserver down) the room waits with exponential backoff (``next_attempt_at``),
  nothing behind it overtakes it;
- **exactly once**: each entry is sent with its deterministic txn id as its puppet.
  Synapse dedupes a repeated txn id only in memory (appservice senders have no device), so
  an entry whose earlier attempt is uncertain (``attempts > 0``: we crashed, or the
  homeserver went away mid-request) is first looked for in the room timeline by its
  ``org.cocare.txn`` marker, back to the room's last confirmed event, and only sent if
  absent. The attempt counter is committed *before* the request;
- attribution: every entry is sent as the puppet of its CoCare sender, registered and
  joined on first use, display name "Name (Role)". A deletion is sent as the puppet only
  when that puppet sent the deleted event; otherwise (a manager's moderation, retention,
  a message written in Matrix) as the bridge bot, which holds the redact power level;
- rooms are created on demand (private, invite only, no guests, history from join) under
  a reserved alias, so a crash between creating and recording cannot make a second room;
- **isolation**: owed actions, membership reconciliation (``bridge.reconcile``) and the
  outbox run as separate stages of a pass; a failure in one never stops the others.

No database transaction is held across a network request. One sender process per
deployment (per-room order assumes a single sender); see docs/matrix.md.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from django.db import transaction
from django.db.models import F, Q

from bridge.conf import BridgeConfig
from bridge.matrix import MatrixClient, MatrixRefused, MatrixUnavailable
from bridge.media import media_uri_for
from bridge.models import BridgeAction, BridgedRoom, EventLink, MatrixMember, OutboxEntry, Puppet
from bridge.reconcile import MembershipReconciler, backoff_seconds, mark_rooms
from bridge.render import MESSAGE, TXN_KEY, Answerer, render
from rooms import isolation
from rooms.isolation import RowGuard
from rooms.models import Message, Person, Room

log = logging.getLogger(__name__)
Status = OutboxEntry.Status
NOTICE_TEXT = (
    "{user}: messages from this account are not added to the CoCare record. "
    "Ask the care manager to link your Matrix account if you should take part."
)


REDACTION_REASON = "Deleted in CoCare"
__all__ = ["MatrixSender", "backoff_seconds", "puppet_display_name"]


def puppet_display_name(person: Person) -> str:
    return f"{person.display_name} ({person.get_role_display()})"


class _RoomBlocked(Exception):
    """This room must wait (its head entry is backing off)."""


class MatrixSender:
    name = "bridge.sender"

    def __init__(
        self, cfg: BridgeConfig, client: MatrixClient | None = None, batch_per_room: int = 200
    ):
        self.cfg = cfg
        self.client = client or MatrixClient(cfg)
        self.batch_per_room = batch_per_room
        self.members = MembershipReconciler(cfg, self.client, self._ensure_room)

    def run_once(self, now: dt.datetime) -> int:
        """One pass: owed actions, membership reconciliation, then the outbox — each stage
        on its own, so a failing one (a bad membership, the homeserver away) never keeps
        the others, above all the outbox, from running."""
        done = 0
        for stage, run in (
            ("actions", self._actions),
            ("members", self.members.run_once),
            ("outbox", self._outbox),
        ):
            try:
                done += run(now)
            except MatrixUnavailable as exc:
                log.info("bridge: %s: homeserver unavailable (%s); will retry", stage, exc)
            except Exception as exc:  # recorded by type only (health); the next pass retries
                isolation.run_failed(f"{self.name}.{stage}", exc, now)
            else:
                isolation.run_succeeded(f"{self.name}.{stage}", now)
        return done

    # --- outbox ---

    def _guard(self, model, *passthrough: type[Exception]) -> RowGuard:
        """Row isolation for unexpected errors (a bug, a row that cannot be read): recorded,
        retried, then skipped. ``MatrixUnavailable`` always ends the pass (run_once)."""
        return RowGuard(
            self.name, model, atomic=False, passthrough=(MatrixUnavailable, *passthrough)
        )

    def _outbox(self, now: dt.datetime) -> int:
        # The homeserver's refusals keep their own handling (backoff, failed) below.
        guard = self._guard(OutboxEntry, MatrixRefused, _RoomBlocked)
        setup = self._guard(Room, MatrixRefused, _RoomBlocked)
        rooms = dict(
            setup.due(
                Room.objects.filter(
                    pk__in=OutboxEntry.objects.filter(status=Status.PENDING).values("room_id")
                )
            ).values_list("pk", "service_user_id")
        )
        done = 0
        for room_id in sorted(rooms):
            entries = list(
                OutboxEntry.objects.filter(room_id=room_id, status=Status.PENDING).order_by("seq")[
                    : self.batch_per_room
                ]
            )
            if not entries or (entries[0].next_attempt_at and entries[0].next_attempt_at > now):
                continue
            su_id = rooms[room_id]
            try:
                bridged = setup.run(
                    room_id, partial(self._ensure_room_of, room_id, now), now, service_user_id=su_id
                )
                if bridged is None:
                    continue
                for entry in entries:
                    # A failing entry holds its room (per-room order) until it is skipped.
                    if not guard.run(
                        entry.pk,
                        partial(self._send_one, bridged, entry, now),
                        now,
                        service_user_id=su_id,
                        on_skip=partial(self._give_up, entry.pk),
                    ):
                        break
                    done += 1
            except _RoomBlocked:
                continue
            except MatrixRefused as exc:  # room creation or puppet setup refused
                log.warning("bridge: room %s setup refused (%s)", room_id, exc.errcode)
                self._back_off(entries[0], now, exc.errcode)
                continue
            except MatrixUnavailable as exc:
                head = (
                    OutboxEntry.objects.filter(room_id=room_id, status=Status.PENDING)
                    .order_by("seq")
                    .first()
                )
                if head is not None:
                    self._back_off(head, now, "unavailable")
                if exc.status is None:  # the homeserver is down: no room can go now
                    raise
        return done

    def _ensure_room_of(self, room_id: int, now: dt.datetime) -> BridgedRoom:
        return self._ensure_room(Room.objects.select_related("service_user").get(pk=room_id), now)

    def _send_one(self, bridged: BridgedRoom, entry: OutboxEntry, now: dt.datetime) -> bool:
        self._send_entry(bridged, entry, now)
        return True

    @staticmethod
    def _give_up(entry_id: int) -> None:
        OutboxEntry.objects.filter(pk=entry_id, status=Status.PENDING).update(
            status=Status.FAILED, last_error="worker_error"
        )

    def _back_off(self, entry: OutboxEntry, now: dt.datetime, error: str) -> None:
        """Delay the room's head by its consecutive failures (1, 2, 4 ... s, capped).

        Counted separately from ``attempts`` (requests started): during an outage the
        retry fails before any request is made (room set-up, the look-up of an uncertain
        send), so ``attempts`` would stay put and the delay would never grow.
        """
        failures = OutboxEntry.objects.get(pk=entry.pk).failures + 1
        delay = backoff_seconds(failures, self.cfg.retry_max_seconds)
        OutboxEntry.objects.filter(pk=entry.pk).update(
            failures=failures,
            next_attempt_at=now + dt.timedelta(seconds=delay),
            last_error=error[:100],
        )

    def _send_entry(self, bridged: BridgedRoom, entry: OutboxEntry, now: dt.datetime) -> None:
        msg = Message.objects.select_related("sender", "reply_to", "target", "room").get(
            pk=entry.message_id
        )
        target_link = (
            EventLink.objects.filter(message_id=msg.target_id).first() if msg.target_id else None
        )
        media_uri = (
            media_uri_for(self.client, msg, now) if msg.kind == Message.Kind.ATTACHMENT else None
        )
        rendered = render(
            kind=msg.kind,
            body=msg.body,
            payload=msg.payload,
            txn_id=entry.txn_id,
            reply_event_id=_event_of(msg.reply_to_id),
            target_event_id=target_link.event_id if target_link else None,
            answered_label=_answer_label(msg),
            room_kind=msg.room.kind,
            answerer=_answerer(msg),
            target_from_matrix=bool(
                target_link and target_link.direction == EventLink.Direction.INBOUND
            ),
            media_uri=media_uri,
        )
        if rendered is None:
            OutboxEntry.objects.filter(pk=entry.pk).update(status=Status.SKIPPED)
            return
        puppet = self._ensure_puppet(msg.sender, now)
        self._ensure_in_room(bridged, puppet.user_id, now)
        if rendered.action == "send" and entry.attempts > 0:
            found = self._find_sent(bridged, entry)
            if found:
                self._mark_sent(entry, found, now)
                return
        OutboxEntry.objects.filter(pk=entry.pk).update(attempts=F("attempts") + 1)
        try:
            if rendered.action == "send":
                event_id = self.client.send(
                    bridged.matrix_room_id,
                    rendered.event_type,
                    rendered.content,
                    entry.txn_id,
                    as_user=puppet.user_id,
                )
            else:
                # Only the puppet that sent an event may redact it with its own power
                # level; anything else (moderation, retention, an event a real Matrix
                # user wrote) is redacted by the bridge bot.
                own = (
                    msg.target is not None
                    and msg.target.sender_id == msg.sender_id
                    and target_link is not None
                    and target_link.direction == EventLink.Direction.OUTBOUND
                )
                self._redact_edits_of(bridged, msg, entry, puppet.user_id)
                self._redact_notices_of(bridged, msg, entry)
                event_id = self.client.redact(
                    bridged.matrix_room_id,
                    rendered.target_event_id,
                    entry.txn_id,
                    as_user=puppet.user_id if own else None,
                    reason=REDACTION_REASON,
                )
        except MatrixRefused as exc:
            attempts = entry.attempts + 1
            if attempts >= self.cfg.max_attempts:
                OutboxEntry.objects.filter(pk=entry.pk).update(
                    status=Status.FAILED, last_error=exc.errcode
                )
                log.warning(
                    "bridge: entry %s refused (%s), recorded failed", entry.message_id, exc.errcode
                )
                return
            self._back_off(entry, now, exc.errcode)
            raise _RoomBlocked from None
        self._mark_sent(entry, event_id, now)

    def _redact_edits_of(
        self, bridged: BridgedRoom, msg: Message, entry: OutboxEntry, puppet_user_id: str
    ) -> None:
        """Redact the Matrix events of every edit of the redacted message.

        Matrix keeps an ``m.replace`` event when its original is redacted, and the edit
        carries the amended text in clear. Each gets a deterministic txn id derived from
        the redaction's, so a retried redaction repeats none of them.
        """
        links = (
            EventLink.objects.filter(
                message__target_id=msg.target_id, message__kind=Message.Kind.EDIT
            )
            .select_related("message")
            .order_by("message__seq")
        )
        for link in links:
            own = (
                link.message.sender_id == msg.sender_id
                and link.direction == EventLink.Direction.OUTBOUND
            )
            self.client.redact(
                bridged.matrix_room_id,
                link.event_id,
                f"{entry.txn_id}.edit-{link.message_id}",
                as_user=puppet_user_id if own else None,
                reason=REDACTION_REASON,
            )

    def _redact_notices_of(self, bridged: BridgedRoom, msg: Message, entry: OutboxEntry) -> None:
        """Redact the bridge bot's notices about the deleted entry (e.g. "Recorded: ...")."""
        notices = BridgeAction.objects.filter(message_id=msg.target_id).exclude(event_id="")
        for action in notices.order_by("id"):
            self.client.redact(
                bridged.matrix_room_id,
                action.event_id,
                f"{entry.txn_id}.notice-{action.id}",
                reason=REDACTION_REASON,
            )

    def _mark_sent(self, entry: OutboxEntry, event_id: str, now: dt.datetime) -> None:
        with transaction.atomic():
            OutboxEntry.objects.filter(pk=entry.pk).update(
                status=Status.SENT,
                event_id=event_id,
                sent_at=now,
                next_attempt_at=None,
                last_error="",
            )
            EventLink.objects.get_or_create(
                event_id=event_id,
                defaults={
                    "message_id": entry.message_id,
                    "direction": EventLink.Direction.OUTBOUND,
                },
            )

    def _find_sent(
        self, bridged: BridgedRoom, entry: OutboxEntry, max_pages: int = 20
    ) -> str | None:
        """The event an uncertain earlier attempt produced, if it reached the room."""
        last = (
            OutboxEntry.objects.filter(room_id=entry.room_id, status=Status.SENT, seq__lt=entry.seq)
            .exclude(event_id=None)
            .order_by("-seq")
            .values_list("event_id", flat=True)
            .first()
        )
        start = None
        for _ in range(max_pages):
            chunk, start = self.client.recent_events(bridged.matrix_room_id, start=start)
            for ev in chunk:
                if (ev.get("content") or {}).get(TXN_KEY) == entry.txn_id:
                    return ev["event_id"]
                if last is not None and ev.get("event_id") == last:
                    return None
            if not chunk or start is None:
                return None
        return None

    # --- rooms, puppets, members ---

    def _ensure_room(self, room: Room, now: dt.datetime) -> BridgedRoom:
        bridged = BridgedRoom.objects.filter(room=room).first()
        if bridged is not None:
            return bridged
        name = f"{room.service_user.name} · {room.get_kind_display()}"
        matrix_room_id = self.client.create_room(
            alias_localpart=self.cfg.room_alias_localpart(room.id),
            name=name,
            invite=[],
            power_users={},
        )
        bridged, _ = BridgedRoom.objects.get_or_create(
            room=room, defaults={"matrix_room_id": matrix_room_id, "created_at": now}
        )
        MatrixMember.objects.get_or_create(
            bridged_room=bridged,
            user_id=self.cfg.bot_user_id,
            defaults={"state": MatrixMember.State.JOINED, "updated_at": now},
        )
        mark_rooms([room.id])  # a new room: invite its linked readers
        return bridged

    def _ensure_puppet(self, person: Person, now: dt.datetime) -> Puppet:
        name = puppet_display_name(person)
        puppet = Puppet.objects.filter(person=person).first()
        if puppet is not None and puppet.display_name == name:
            return puppet
        user_id = self.cfg.puppet_user_id(person.id)
        if puppet is None:
            self.client.register_puppet(user_id[1:].split(":", 1)[0])
        self.client.set_display_name(user_id, name)
        puppet, _ = Puppet.objects.update_or_create(
            person=person, defaults={"user_id": user_id, "display_name": name, "registered_at": now}
        )
        return puppet

    def _ensure_in_room(self, bridged: BridgedRoom, user_id: str, now: dt.datetime) -> None:
        if MatrixMember.objects.filter(
            bridged_room=bridged, user_id=user_id, state=MatrixMember.State.JOINED
        ).exists():
            return
        self.client.invite(bridged.matrix_room_id, user_id)
        self.client.join(bridged.matrix_room_id, user_id)
        MatrixMember.objects.update_or_create(
            bridged_room=bridged,
            user_id=user_id,
            defaults={"state": MatrixMember.State.JOINED, "updated_at": now},
        )

    def _actions(self, now: dt.datetime) -> int:
        """Owed Matrix-side actions, each on its own: a refusal is retried with backoff up
        to ``max_attempts`` and then recorded done; an unexpected error is recorded and the
        action skipped (``RowGuard``); neither blocks the ones behind it."""
        guard = self._guard(BridgeAction)
        due = guard.due(
            BridgeAction.objects.filter(done_at__isnull=True).filter(
                Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
            )
        ).order_by("-kind", "id")  # notices before kicks: the sender can still read it
        done = 0
        for action in due[:100]:
            done += guard.run(action.pk, partial(self._do_action, action, now), now) or 0
        return done

    def _do_action(self, action: BridgeAction, now: dt.datetime) -> int:
        BridgeAction.objects.filter(pk=action.pk).update(attempts=F("attempts") + 1)
        event_id = ""
        try:
            if action.kind == BridgeAction.Kind.KICK:
                self.client.kick(
                    action.matrix_room_id, action.user_id, "Not a member of this CoCare room"
                )
            else:
                event_id = self.client.send(
                    action.matrix_room_id,
                    MESSAGE,
                    notice_content(action),
                    f"cocare-action-{action.id}",
                )
        except (MatrixRefused, MatrixUnavailable) as exc:
            if isinstance(exc, MatrixUnavailable) and exc.status is None:
                raise  # the homeserver is down: the stage ends, nothing is counted
            error = exc.errcode if isinstance(exc, MatrixRefused) else str(exc)
            log.warning("bridge: action %s failed (%s)", action.id, error)
            if action.attempts + 1 < self.cfg.max_attempts:
                BridgeAction.objects.filter(pk=action.pk).update(
                    next_attempt_at=now
                    + dt.timedelta(
                        seconds=backoff_seconds(action.attempts + 1, self.cfg.retry_max_seconds)
                    )
                )
                return 0
        BridgeAction.objects.filter(pk=action.pk).update(done_at=now, event_id=event_id)
        return 1


def notice_content(action: BridgeAction) -> dict:
    """A bridge-bot notice: its text, addressed to its user, a reply when it is about an
    event."""
    content: dict = {
        "msgtype": "m.notice",
        "body": action.body or NOTICE_TEXT.format(user=action.user_id),
        "m.mentions": {"user_ids": [action.user_id]},
    }
    if action.reply_to_event_id:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": action.reply_to_event_id}}
    return content


def _answerer(msg: Message) -> Answerer | None:
    """The visit's care worker named by a question card (``data.worker``), if any."""
    if msg.kind != Message.Kind.CARD:
        return None
    worker_id = (msg.payload.get("data") or {}).get("worker")
    if not isinstance(worker_id, int):
        return None
    person = Person.objects.filter(pk=worker_id).first()
    if person is None:
        return None
    return Answerer(name=person.display_name, matrix_id=person.matrix_id or None)


def _event_of(message_id: int | None) -> str | None:
    if message_id is None:
        return None
    return (
        EventLink.objects.filter(message_id=message_id).values_list("event_id", flat=True).first()
    )


def _answer_label(msg: Message) -> str | None:
    if msg.kind != Message.Kind.ANSWER:
        return None
    card_id = msg.payload.get("card_id")
    card = (
        Message.objects.filter(
            room_id=msg.room_id, kind=Message.Kind.CARD, payload__card_id=card_id
        )
        .order_by("-seq")
        .first()
    )
    if card is None:
        return None
    for option in card.payload.get("options", []):
        if option.get("value") == msg.payload.get("value"):
            return option.get("label")
    return None
