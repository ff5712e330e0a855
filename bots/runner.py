"""The bot runner: a durable log consumer plus a ticker for the bots' timers.

``BotConsumer`` (cursor ``bots``) reads people's ``text`` and ``answer`` entries, turns
them into flow events, runs the pure flow, and applies the outcome in the consumer's
transaction (so the cursor, the session state and the bot's posts commit together).

Idempotency (a cursor reset or a restart repeats nothing):
- an entry that already caused a step (``BotStep.source_message``) is skipped;
- an entry no newer than a session's ``last_message_id`` never applies to it;
- every bot post has ``client_id = bot:<session>:<step>:<n>``, so a repeated post returns
  the stored entry; the missed-visit flag uses ``bot:planned:<id>:missed``.

Locks: the session row (``select_for_update``) for every step, so the consumer and the
ticker never apply two events to one session at once. ``BotTicker`` claims due timers
(``BotQuestion.expires_at``, ``PlannedVisit.missed_check_at``) with
``select_for_update(skip_locked=True)`` on PostgreSQL and a compare-and-set update
everywhere (SQLite ignores row locks; its write lock serialises writers).
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from django.db import transaction
from django.db.models import Max

from bots import context
from bots.flows import checkin as flow
from bots.flows import family_voice as fv
from bots.flows.common import Flag, Reply, hhmm
from bots.flows.questions import QOutcome, card_spec
from bots.models import (
    BotFlag,
    BotQuestion,
    BotSession,
    BotStep,
    FamilyVoiceAsk,
    Observation,
    PlannedVisit,
    Visit,
)
from bots.parse import intent
from bots.patterns import PatternTicker
from bots.questionbank import load_bank
from bots.taptime import bounded_tap_time, parse_tapped
from cocare_chat.config import get_config
from rooms.access import family_basis_active
from rooms.isolation import RowGuard
from rooms.logconsumer import LogConsumer
from rooms.logorder import START, LogPos, after
from rooms.messages import post_message
from rooms.models import ConsumerCursor, Message, Organisation, Person, Role, Room, ServiceUser
from rooms.network import do_join_unless_removed, keyed_participant, system_person

log = logging.getLogger(__name__)

BOT_NAME = "Visit bot"
CONSUMER_NAME = "bots"
STAFF_ROLES = {Role.CARE_WORKER, Role.NURSE, Role.THERAPIST, Role.CARE_MANAGER}
FAMILY_ROLES = {Role.FAMILY, Role.SERVICE_USER}
FAMILY_VOICE_EVERY = dt.timedelta(days=7)


# ---- the bot participant ---------------------------------------------------------------


def bot_key(provider: Organisation | int) -> str:
    return f"visit-bot:{provider.pk if isinstance(provider, Organisation) else provider}"


def bot_for(provider: Organisation) -> Person:
    """The provider's visit bot: one per provider (unique ``system_key``), made on first use."""
    return keyed_participant(bot_key(provider), display_name=BOT_NAME, organisation=provider)


class Poster:
    """Posts a step's replies and flags as the bot, in the rooms it is a member of.

    The bot joins a room it serves by itself only the first time
    (``rooms.network.do_join_unless_removed``): once a manager removed it, it stays out.
    Its replies for that room are then skipped (logged with ids); flags, which feed
    safeguarding alerts, are still written — by the system sender — so a removed bot never
    silences a missed-visit or location alert.
    """

    def __init__(self, su: ServiceUser, now: dt.datetime):
        self.su = su
        self.now = now
        self.bot = bot_for(su.provider)
        self.rooms = {r.kind: r for r in Room.objects.filter(service_user=su)}
        self.present: dict[int, bool] = {}

    def room(self, kind: str) -> Room | None:
        """The room of this kind if the bot is (or may first become) a member, else None."""
        room = self.rooms[kind]
        if room.id not in self.present:
            self.present[room.id] = do_join_unless_removed(room, self.bot, now=self.now) is not None
        return room if self.present[room.id] else None

    def post(self, key: str, replies: list[Reply], flags: list[Flag]) -> list[Message]:
        out = []
        for i, r in enumerate(replies):
            room = self.room(r.room)
            if room is None:
                log.info(
                    "bot %s not in room %s (removed): reply %s:%s skipped",
                    self.bot.id,
                    self.rooms[r.room].id,
                    key,
                    i,
                )
                continue
            out.append(
                post_message(
                    room=room,
                    sender=self.bot,
                    kind=r.kind,
                    body=r.body,
                    payload=r.payload,
                    client_id=f"{key}:{i}",
                    now=self.now,
                ).message
            )
        for j, f in enumerate(flags, start=len(replies)):
            out.append(self.flag(f"{key}:{j}", f))
        return out

    def flag(self, client_id: str, f: Flag) -> Message:
        room = self.room(Room.Kind.PROFESSIONAL)
        sender = self.bot
        if room is None:
            room, sender = self.rooms[Room.Kind.PROFESSIONAL], system_person()
            log.info(
                "bot %s not in room %s (removed): flag %s posted by the system sender",
                self.bot.id,
                room.id,
                client_id,
            )
        return post_message(
            room=room,
            sender=sender,
            kind="signal",
            payload=f.payload(),
            client_id=client_id,
            now=self.now,
        ).message


# ---- applying outcomes -----------------------------------------------------------------


def _record_step(
    session: BotSession,
    *,
    state,
    replies,
    flags,
    observations,
    asked,
    source: Message | None,
    event: str,
    now: dt.datetime,
    closed: bool,
) -> None:
    """Persist one applied step: BotStep key, posts, questions, observations, state."""
    step = session.step + 1
    BotStep.objects.create(session=session, step=step, source_message=source, event=event, at=now)
    poster = Poster(session.service_user, now)
    posted = poster.post(f"bot:{session.id}:{step}", replies, flags)
    cards = {m.payload.get("card_id"): m for m in posted if m.kind == "card"}
    for a in asked:
        room = poster.rooms[
            Room.Kind.FAMILY
            if session.kind == BotSession.Kind.FAMILY_VOICE
            else Room.Kind.PROFESSIONAL
        ]
        BotQuestion.objects.get_or_create(
            card_id=a.card_id,
            defaults=dict(
                session=session,
                service_user=session.service_user,
                room=room,
                card_message=cards.get(a.card_id),
                question_key=a.spec.question_key,
                question_version=a.spec.version,
                domain=a.spec.domain,
                goal_id=a.spec.goal_id,
                asked_at=now,
                expires_at=a.expires_at,
            ),
        )
    for o in observations:
        bq = BotQuestion.objects.get(card_id=o.card_id)
        BotQuestion.objects.filter(pk=bq.pk, answered_at__isnull=True).update(answered_at=o.at)
        Observation.objects.get_or_create(
            question=bq,
            defaults=dict(
                service_user=session.service_user,
                domain=o.domain,
                question_key=o.question_key,
                question_version=o.question_version,
                score=o.score,
                visit_id=session.visit_id,
                goal_id=o.goal_id,
                answered_by_id=o.answered_by,
                at=o.at,
            ),
        )
    session.state = state.model_dump(mode="json")
    session.step = step
    if source is not None:
        session.last_message_id = max(session.last_message_id, source.id)
    session.closed = closed
    session.updated_at = now
    session.save()
    if session.visit_id is not None and isinstance(state, flow.VisitState):
        _sync_visit(Visit.objects.get(pk=session.visit_id), state)


def tap_time(msg: Message, *, not_before: dt.datetime | None) -> dt.datetime:
    """The check-in/out time of ``msg``: its bounded tap time (bots/taptime.py)."""
    return bounded_tap_time(
        parse_tapped(msg.payload),
        msg.created_at,
        not_before=not_before,
        max_age=dt.timedelta(minutes=get_config().bots_tap_max_age_minutes),
    )


def last_visit_event(worker: Person) -> dt.datetime | None:
    """The worker's latest recorded check-in or check-out, at any service user."""
    got = Visit.objects.filter(worker=worker).aggregate(
        i=Max("checked_in_at"), o=Max("checked_out_at")
    )
    times = [t for t in (got["i"], got["o"]) if t is not None]
    return max(times) if times else None


def _sync_visit(v: Visit, s: flow.VisitState) -> None:
    v.checked_in_at = s.checked_in_at
    v.checkin_location = s.checkin.status
    pos = s.checkin.position
    v.checkin_lat, v.checkin_lon = (pos.lat, pos.lon) if pos else (None, None)
    v.checkin_accuracy_m = s.checkin.accuracy_m
    v.checkin_distance_m = s.checkin.distance_m
    v.checked_out_at = s.checked_out_at
    if s.checkout is not None:
        v.checkout_location = s.checkout.status
        pos = s.checkout.position
        v.checkout_lat, v.checkout_lon = (pos.lat, pos.lon) if pos else (None, None)
        v.checkout_accuracy_m = s.checkout.accuracy_m
        v.checkout_distance_m = s.checkout.distance_m
    v.duration_minutes = s.duration_minutes
    v.travel_minutes = s.travel_minutes
    v.exception_reason = s.reason
    v.checkout_reason = s.checkout_reason
    v.late = s.late
    v.save()


def _apply_visit(
    session: BotSession, out: flow.Outcome, source: Message | None, event: str, now: dt.datetime
) -> None:
    if not out.changed:
        return
    _record_step(
        session,
        state=out.state,
        replies=out.replies,
        flags=out.flags,
        observations=out.observations,
        asked=out.asked,
        source=source,
        event=event,
        now=now,
        closed=out.state.closed,
    )


def _apply_family(
    session: BotSession,
    state: fv.FamilyVoiceState,
    qo: QOutcome,
    source: Message | None,
    event: str,
    now: dt.datetime,
) -> None:
    if not qo.changed:
        return
    _record_step(
        session,
        state=state,
        replies=qo.replies,
        flags=qo.flags,
        observations=qo.observations,
        asked=qo.asked,
        source=source,
        event=event,
        now=now,
        closed=qo.state.finished,
    )


def _close_quietly(session: BotSession, now: dt.datetime) -> None:
    """End an abandoned conversation: its open card expires, nothing is posted."""
    BotQuestion.objects.filter(
        session=session, answered_at__isnull=True, expired_at__isnull=True
    ).update(expired_at=now)
    session.closed = True
    session.updated_at = now
    session.save(update_fields=["closed", "updated_at"])


def _locked(session_id: int) -> BotSession:
    return (
        BotSession.objects.select_for_update()
        .select_related("service_user__provider")
        .get(pk=session_id)
    )


# ---- the consumer ----------------------------------------------------------------------


class BotConsumer(LogConsumer):
    """Reads people's text and answers; runs the visit and family-voice conversations."""

    name = CONSUMER_NAME

    def select(self, qs):
        return qs.filter(kind__in=[Message.Kind.TEXT, Message.Kind.ANSWER]).exclude(
            sender__role=Role.BOT
        )

    def handle(self, message: Message, now: dt.datetime) -> None:
        if BotStep.objects.filter(source_message_id=message.id).exists():
            return  # already applied (a replay)
        if message.kind == Message.Kind.ANSWER:
            self._answer(message, now)
            return
        sender = message.sender
        if sender.role == Role.CARE_WORKER:
            self._worker_text(message, now)
        elif sender.role in FAMILY_ROLES and message.room.kind == Room.Kind.FAMILY:
            what, _, number = intent(message.body, message.payload)
            if what == "number":
                self._family_number(message, number, now)

    # -- care worker text ----------------------------------------------------------------

    def _open_session(self, su: ServiceUser, worker: Person) -> BotSession | None:
        s = BotSession.objects.filter(
            kind=BotSession.Kind.VISIT, service_user=su, worker=worker, closed=False
        ).first()
        return _locked(s.pk) if s is not None else None

    def _worker_text(self, msg: Message, now: dt.datetime) -> None:
        su = ServiceUser.objects.select_related("provider").get(pk=msg.room.service_user_id)
        worker = msg.sender
        at = msg.created_at
        what, position, number = intent(msg.body, msg.payload, msg.created_at)
        session = self._open_session(su, worker)
        if session is not None and session.last_message_id >= msg.id:
            return
        state = flow.VisitState.model_validate(session.state) if session else None
        if what == "check_in":
            if session is not None and (state.phase != "visiting" or flow.is_stale(state, at)):
                _close_quietly(session, now)
                session, state = None, None
            if session is None:
                self._start_visit(su, worker, msg, position, now)
                return
            _apply_visit(
                session,
                flow.step(
                    state,
                    flow.CheckIn(
                        at=at,
                        message_id=msg.id,
                        position=position,
                        home=context.home_of(su),
                        worker_name=worker.display_name,
                        service_user_name=su.name,
                        key_info=context.key_info_for(su, worker, at),
                    ),
                    now,
                ),
                msg,
                "check_in",
                now,
            )
            return
        if session is None:
            if what == "check_out":
                Poster(su, now).post(
                    f"bot:m{msg.id}",
                    [
                        Reply(
                            room="professional",
                            kind="system",
                            body="There is no open visit to check out of — check in first.",
                            payload={"event": "bot.hint", "data": {}},
                        )
                    ],
                    [],
                )
            return
        if what == "check_out":
            self._check_out(session, state, su, msg, position, now)
            return
        if msg.room.kind != Room.Kind.PROFESSIONAL:
            return
        card = state.questions.open_card if state.questions else None
        if what == "number" and card is not None and self._card_before(card.card_id, msg):
            ev = flow.Answer(at=at, card_id=None, value=number, by=worker.id, message_id=msg.id)
            _apply_visit(session, flow.step(state, ev, now), msg, "answer", now)
            return
        if what in ("text", "number"):
            ev = flow.Text(at=at, body=msg.body, message_id=msg.id)
            _apply_visit(session, flow.step(state, ev, now), msg, "text", now)

    @staticmethod
    def _card_before(card_id: str, msg: Message) -> bool:
        """A number reply answers a card only if the card was posted before it."""
        card_msg = (
            BotQuestion.objects.filter(card_id=card_id)
            .values_list("card_message_id", flat=True)
            .first()
        )
        return card_msg is not None and card_msg < msg.id

    def _start_visit(
        self, su: ServiceUser, worker: Person, msg: Message, position, now: dt.datetime
    ) -> None:
        at = tap_time(msg, not_before=last_visit_event(worker))
        key_info = context.key_info_for(su, worker, at)
        planned = context.match_planned(su, worker, at)
        visit = Visit.objects.create(
            service_user=su,
            worker=worker,
            planned_visit=planned,
            checkin_message=msg,
            checked_in_at=at,
            checkin_received_at=msg.created_at,
            checkin_location=Visit.Location.NO_LOCATION,
        )
        session = BotSession.objects.create(
            kind=BotSession.Kind.VISIT,
            service_user=su,
            worker=worker,
            visit=visit,
            created_at=now,
            updated_at=now,
        )
        ev = flow.CheckIn(
            at=at,
            message_id=msg.id,
            position=position,
            home=context.home_of(su),
            worker_name=worker.display_name,
            service_user_name=su.name,
            key_info=key_info,
            family_notices=family_basis_active(su.id),
            planned=context.planned_ref(planned),
        )
        out = flow.start_visit(ev, session_id=session.id, worker_id=worker.id)
        _apply_visit(session, out, msg, "check_in", now)
        if out.state.late and planned is not None:
            BotFlag.objects.get_or_create(
                planned_visit=planned, kind="late_visit", defaults={"at": now}
            )

    def _check_out(
        self,
        session: BotSession,
        state: flow.VisitState,
        su: ServiceUser,
        msg: Message,
        position,
        now: dt.datetime,
    ) -> None:
        cfg = get_config()
        bank = load_bank()
        cards = context.cards_for_visit(bank, su) if state.phase == "visiting" else []
        travel = context.travel_minutes(session.worker, session.visit_id, state.checked_in_at)
        ev = flow.CheckOut(
            at=tap_time(msg, not_before=state.checked_in_at),
            message_id=msg.id,
            position=position,
            home=context.home_of(su),
            cards=cards,
            travel_minutes=travel,
            family_notices=family_basis_active(su.id),
            question_ttl_minutes=cfg.bots_question_ttl_minutes,
        )
        out = flow.step(state, ev, now)
        _apply_visit(session, out, msg, "check_out", now)
        if out.changed and state.phase == "visiting":
            Visit.objects.filter(pk=session.visit_id).update(checkout_received_at=msg.created_at)
            self._maybe_family_voice(su, now)

    # -- family voice --------------------------------------------------------------------

    def _maybe_family_voice(self, su: ServiceUser, now: dt.datetime) -> None:
        """Ask the family room the care-experience question, at most weekly."""
        if not family_basis_active(su.id):
            return
        if FamilyVoiceAsk.objects.filter(service_user=su, at__gt=now - FAMILY_VOICE_EVERY).exists():
            return
        year, week, _ = now.isocalendar()
        key = f"{year}-W{week:02d}"
        if FamilyVoiceAsk.objects.filter(service_user=su, week=key).exists():
            return
        session = BotSession.objects.create(
            kind=BotSession.Kind.FAMILY_VOICE, service_user=su, created_at=now, updated_at=now
        )
        FamilyVoiceAsk.objects.create(service_user=su, week=key, session=session, at=now)
        bank = load_bank()
        spec = card_spec(bank.family_voice, None, su.name, None)
        ttl = get_config().bots_family_voice_ttl_hours * 60
        state, qo = fv.start(spec, session_id=session.id, ttl_minutes=ttl, now=now)
        _apply_family(session, state, qo, None, "ask", now)

    def _family_number(self, msg: Message, number: int, now: dt.datetime) -> None:
        bq = (
            BotQuestion.objects.filter(
                room=msg.room,
                answered_at__isnull=True,
                expired_at__isnull=True,
                session__kind=BotSession.Kind.FAMILY_VOICE,
                card_message_id__lt=msg.id,
            )
            .order_by("-id")
            .first()
        )
        if bq is not None:
            self._answer_card(bq, msg, None, number, now)

    # -- taps ------------------------------------------------------------------------------

    def _answer(self, msg: Message, now: dt.datetime) -> None:
        card_id = msg.payload.get("card_id")
        # Not a bot question (e.g. the visit record's tasks card, followed by the
        # careplan consumer): nothing for the bots to do.
        bq = BotQuestion.objects.filter(card_id=card_id).first()
        if bq is None or bq.room_id != msg.room_id:
            return
        self._answer_card(bq, msg, card_id, msg.payload.get("value"), now)

    def _answer_card(
        self, bq: BotQuestion, msg: Message, card_id: str | None, value, now: dt.datetime
    ) -> None:
        session = _locked(bq.session_id)
        if session.closed or session.last_message_id >= msg.id:
            return
        role = msg.sender.role
        if session.kind == BotSession.Kind.FAMILY_VOICE:
            if role not in FAMILY_ROLES:
                return
            state = fv.FamilyVoiceState.model_validate(session.state)
            state, qo = fv.answer(
                state,
                card_id=bq.card_id,
                value=int(value),
                by=msg.sender_id,
                at=msg.created_at,
                message_id=msg.id,
                now=now,
            )
            _apply_family(session, state, qo, msg, "answer", now)
            return
        if role not in STAFF_ROLES:
            return
        state = flow.VisitState.model_validate(session.state)
        ev = flow.Answer(
            at=msg.created_at,
            card_id=card_id or bq.card_id,
            value=int(value),
            by=msg.sender_id,
            message_id=msg.id,
        )
        _apply_visit(session, flow.step(state, ev, now), msg, "answer", now)


# ---- the ticker --------------------------------------------------------------------------


class BotTicker:
    """Fires the bots' timers: quiet question expiry and missed-visit flags.

    Each due row runs in isolation (``rooms.isolation.RowGuard``): the batch query reads
    ids only, each row is loaded and handled in its own savepoint, and a row that raises
    (a year-1 window written before the boundary rule, a broken session state) is
    recorded, retried on the next ticks, then skipped — missed-visit flags keep flowing
    for every other row and provider.
    """

    name = "bots.ticker"
    batch_size = 100

    def run_once(self, now: dt.datetime) -> int:
        return self.expire_questions(now) + self.flag_missed_visits(now)

    def expire_questions(self, now: dt.datetime) -> int:
        guard = RowGuard(self.name, BotQuestion)
        due_qs = BotQuestion.objects.filter(
            answered_at__isnull=True, expired_at__isnull=True, expires_at__lte=now
        )
        done = 0
        with transaction.atomic():
            due = list(
                guard.due(due_qs.select_for_update(skip_locked=True, of=("self",)))
                .order_by("expires_at")
                .values_list("pk", "service_user_id")[: self.batch_size]
            )
            if not due:
                guard.settle(due_qs, now)
                return 0
            row = (
                ConsumerCursor.objects.filter(name=CONSUMER_NAME)
                .values_list("txid", "position")
                .first()
            )
            cursor = LogPos(*row) if row else START
            for pk, su_id in due:
                if guard.run(
                    pk, partial(self._expire_one, pk, cursor, now), now, service_user_id=su_id
                ):
                    done += 1
        guard.settle(due_qs, now)
        return done

    def _expire_one(self, pk: int, cursor: LogPos, now: dt.datetime) -> bool:
        bq = BotQuestion.objects.get(pk=pk)
        # An answer already in the log but not yet read by the consumer wins.
        if Message.objects.filter(
            after(cursor), room_id=bq.room_id, created_at__lte=bq.expires_at
        ).exists():
            return False
        session = _locked(bq.session_id)
        claimed = BotQuestion.objects.filter(
            pk=bq.pk,
            answered_at__isnull=True,
            expired_at__isnull=True,
        ).update(expired_at=now)
        if not claimed:
            return False
        if session.closed:
            return True
        if session.kind == BotSession.Kind.FAMILY_VOICE:
            state = fv.FamilyVoiceState.model_validate(session.state)
            state, qo = fv.expire(state, bq.card_id)
            _apply_family(session, state, qo, None, "expire", now)
        else:
            state = flow.VisitState.model_validate(session.state)
            out = flow.step(state, flow.Expire(card_id=bq.card_id), now)
            _apply_visit(session, out, None, "expire", now)
        return True

    def flag_missed_visits(self, now: dt.datetime) -> int:
        """One ``missed_visit`` flag per planned visit with no check-in by window end + grace."""
        guard = RowGuard(self.name, PlannedVisit)
        due_qs = PlannedVisit.objects.filter(
            status=PlannedVisit.Status.PLANNED,
            missed_flagged_at__isnull=True,
            missed_check_at__lte=now,
            visit__isnull=True,
        )
        done = 0
        with transaction.atomic():
            # Ids only: a row whose datetimes cannot be read must not fail the whole batch.
            due = list(
                guard.due(due_qs.select_for_update(skip_locked=True, of=("self",)))
                .order_by("missed_check_at")
                .values_list("pk", "service_user_id")[: self.batch_size]
            )
            for pk, su_id in due:
                if guard.run(pk, partial(self._flag_missed, pk, now), now, service_user_id=su_id):
                    done += 1
        guard.settle(due_qs, now)
        return done

    def _flag_missed(self, pk: int, now: dt.datetime) -> bool:
        claimed = PlannedVisit.objects.filter(pk=pk, missed_flagged_at__isnull=True).update(
            missed_flagged_at=now
        )
        if not claimed:
            return False
        pv = PlannedVisit.objects.select_related("service_user__provider", "worker").get(pk=pk)
        if BotFlag.objects.filter(planned_visit=pv, kind="missed_visit").exists():
            return False
        flag = Flag(
            concern="missed_visit",
            severity="medium",
            source="bot.missed_visit",
            ref=f"planned:{pv.id}:missed",
            reason=(
                f"No check-in for the {hhmm(pv.window_start)}–"
                f"{hhmm(pv.window_end)} visit ({pv.worker.display_name})"
            ),
        )
        msg = Poster(pv.service_user, now).flag(f"bot:planned:{pv.id}:missed", flag)
        BotFlag.objects.create(planned_visit=pv, kind="missed_visit", message=msg, at=now)
        return True


def make_workers() -> list:
    """Registered as ``bots`` in ``COCARE_WORKERS``: the consumer first, then the tickers
    (bot timers; visits planned from weekly patterns)."""
    return [BotConsumer(), BotTicker(), PatternTicker()]
