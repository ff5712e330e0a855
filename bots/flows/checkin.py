"""The visit conversation: check-in, location exception reason, check-out, questions.

Pure: ``start_visit(event, ...)`` opens a visit; ``step(state, event, now)`` applies one
event and returns an ``Outcome`` (new state, replies, flags, observations, asked cards).
``changed=False`` means the event did not apply and nothing must be recorded.

Location is read only from the check-in and check-out events. Out of range or no
location is recorded and flagged, never blocked; the worker is asked for a short reason,
and the next text they send in the session is taken as that reason. Both reasons are
kept (``reason`` for the check-in, ``checkout_reason`` for the check-out); a check-out
while the check-in's reason is still outstanding asks once for both. After a far
check-out the reason is asked first and the wellbeing questions wait for it (they are
held in ``questions.pending`` and asked when the reason arrives), so the worker is never
asked two things at the same moment. An exempt home is not checked at all (and no
position is kept).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from bots.flows import questions as q
from bots.flows.common import (
    Flag,
    ObservationOut,
    Reply,
    RoomKind,
    Strict,
    first_name,
    hhmm,
)
from bots.geo import Home, LocationCheck, Position, check_location
from bots.selection import MAX_PER_VISIT

Phase = Literal["visiting", "asking", "done"]
REASON_MAX = 300
STALE_VISIT = dt.timedelta(hours=12)


class KeyInfo(Strict):
    first_visit: bool
    changed_since_last: dt.datetime | None = None
    # Which fields changed since this worker's last visit (empty: not known, show all).
    changed_fields: list[str] = Field(default_factory=list)
    preferences: str = ""
    what_matters: str = ""
    communication_needs: str = ""
    access_notes: str = ""


class PlannedRef(Strict):
    id: int
    window_start: dt.datetime
    window_end: dt.datetime


class CheckIn(Strict):
    type: Literal["check_in"] = "check_in"
    at: dt.datetime
    message_id: int | None = None
    position: Position | None = None
    home: Home
    worker_name: str
    service_user_name: str
    key_info: KeyInfo
    family_notices: bool = False
    planned: PlannedRef | None = None


class CheckOut(Strict):
    type: Literal["check_out"] = "check_out"
    at: dt.datetime
    message_id: int | None = None
    position: Position | None = None
    home: Home
    cards: list[q.CardSpec] = Field(default_factory=list)
    travel_minutes: int | None = None
    family_notices: bool = False
    question_ttl_minutes: int = Field(default=120, ge=1)


class Text(Strict):
    type: Literal["text"] = "text"
    at: dt.datetime
    body: str
    message_id: int | None = None


class Answer(Strict):
    type: Literal["answer"] = "answer"
    at: dt.datetime
    card_id: str | None = None  # None: a number reply to the open card
    value: int
    by: int
    message_id: int | None = None


class Expire(Strict):
    type: Literal["expire"] = "expire"
    card_id: str


VisitEvent = CheckIn | CheckOut | Text | Answer | Expire
Event = Annotated[VisitEvent, Field(discriminator="type")]
event_adapter = TypeAdapter[VisitEvent](Event)


class VisitState(Strict):
    session_id: int
    worker_id: int
    worker_name: str
    service_user_name: str
    phase: Phase
    checked_in_at: dt.datetime
    checkin: LocationCheck
    checked_out_at: dt.datetime | None = None
    checkout: LocationCheck | None = None
    duration_minutes: int | None = None
    travel_minutes: int | None = None
    # "both": a far check-out while the check-in's reason was still outstanding.
    awaiting_reason: Literal["check_in", "check_out", "both"] | None = None
    reason: str = ""  # the check-in's reason (the name it has always had in stored states)
    checkout_reason: str = ""
    late: bool = False
    questions: q.QuestionsState | None = None

    @property
    def closed(self) -> bool:
        return self.phase == "done" and self.awaiting_reason is None


class Outcome(Strict):
    state: VisitState
    replies: list[Reply] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    observations: list[ObservationOut] = Field(default_factory=list)
    asked: list[q.Asked] = Field(default_factory=list)
    changed: bool = True


def _notice(room: RoomKind, body: str, event: str, **data: object) -> Reply:
    return Reply(room=room, kind="system", body=body, payload={"event": event, "data": data})


def _key_info_reply(ev: CheckIn, session_id: int) -> Reply | None:
    """First visit: the key-information card. A returning worker whose last visit was
    before a change: a card with what changed since then (current values). Else nothing."""
    ki = ev.key_info
    name = ev.service_user_name
    values = {
        "preferences": ki.preferences,
        "what_matters": ki.what_matters,
        "communication_needs": ki.communication_needs,
        "access_notes": ki.access_notes,
    }
    if ki.first_visit:
        title = f"First visit to {name}: key information"
        fields = {k: v for k, v in values.items() if v}
    elif ki.changed_since_last is not None:
        when = ki.changed_since_last.strftime("%d %b")
        title = f"Since your last visit, {name}'s key information changed ({when})"
        shown = ki.changed_fields or list(values)
        fields = {k: values[k] for k in shown if k in values and values[k]}
    else:
        return None
    return Reply(
        room="professional",
        kind="card",
        payload={
            "card_id": f"s{session_id}key",
            "card_type": "key_info",
            "title": title,
            "options": [],
            "data": fields,
        },
    )


def _location_exception(
    check: LocationCheck,
    when: str,
    session_id: int,
    message_id: int | None,
    name: str,
    *,
    both: bool = False,
) -> tuple[Reply, Flag]:
    what = "reason for the check-in and the check-out" if both else "reason"
    ask = _notice(
        "professional",
        f"I couldn't confirm the {when.replace('_', '-')} at {name}'s home "
        f"({check.describe()}). That's fine — please send a short {what}.",
        "visit.reason_requested",
        session=session_id,
        at="both" if both else when,
    )
    flag = Flag(
        concern="location_exception",
        severity="low",
        source="bot.location",
        ref=f"session:{session_id}:{when}",
        reason=f"{when.replace('_', '-').capitalize()}: {check.describe()}",
        message_id=message_id,
    )
    return ask, flag


def start_visit(ev: CheckIn, *, session_id: int, worker_id: int) -> Outcome:
    check = check_location(ev.position, ev.home)
    first = first_name(ev.worker_name)
    at = hhmm(ev.at)
    late = ev.planned is not None and ev.at > ev.planned.window_end
    replies = [
        _notice(
            "professional",
            f"{first} checked in {at} ({check.describe()}).",
            "visit.checked_in",
            session=session_id,
            location=check.status,
            worker=worker_id,
        )
    ]
    flags: list[Flag] = []
    key = _key_info_reply(ev, session_id)
    if key is not None:
        replies.append(key)
    awaiting = None
    if check.is_exception:
        ask, flag = _location_exception(
            check, "check_in", session_id, ev.message_id, ev.service_user_name
        )
        replies.append(ask)
        flags.append(flag)
        awaiting = "check_in"
    if late and ev.planned is not None:
        p = ev.planned
        flags.append(
            Flag(
                concern="late_visit",
                severity="low",
                source="bot.late_visit",
                ref=f"planned:{p.id}:late",
                reason=f"Checked in {at}; planned {hhmm(p.window_start)}–{hhmm(p.window_end)}",
                message_id=ev.message_id,
            )
        )
    if ev.family_notices:
        replies.append(
            _notice("family", f"{first} arrived {at}", "visit.arrived", worker=worker_id)
        )
    state = VisitState(
        session_id=session_id,
        worker_id=worker_id,
        worker_name=ev.worker_name,
        service_user_name=ev.service_user_name,
        phase="visiting",
        checked_in_at=ev.at,
        checkin=check,
        awaiting_reason=awaiting,
        late=late,
    )
    return Outcome(state=state, replies=replies, flags=flags)


def _check_out(s: VisitState, ev: CheckOut, now: dt.datetime) -> Outcome:
    if s.phase != "visiting":
        return Outcome(
            state=s,
            replies=[
                _notice(
                    "professional",
                    f"You already checked out at {hhmm(s.checked_out_at or now)}.",
                    "bot.hint",
                    session=s.session_id,
                )
            ],
        )
    check = check_location(ev.position, ev.home)
    minutes = max(0, int((ev.at - s.checked_in_at).total_seconds() // 60))
    first = first_name(s.worker_name)
    at = hhmm(ev.at)
    replies = [
        _notice(
            "professional",
            f"{first} checked out {at} after {minutes} min ({check.describe()}).",
            "visit.checked_out",
            session=s.session_id,
            location=check.status,
            minutes=minutes,
            worker=s.worker_id,
        )
    ]
    flags: list[Flag] = []
    awaiting = s.awaiting_reason
    if check.is_exception:
        both = s.awaiting_reason is not None
        ask, flag = _location_exception(
            check, "check_out", s.session_id, ev.message_id, s.service_user_name, both=both
        )
        replies.append(ask)
        flags.append(flag)
        awaiting = "both" if both else "check_out"
    if ev.family_notices:
        replies.append(_notice("family", f"{first} left {at}", "visit.left", worker=s.worker_id))
    if check.is_exception:
        # The reason first: the questions are held until it arrives (see ``step``).
        held = q.QuestionsState(
            room="professional",
            ttl_minutes=ev.question_ttl_minutes,
            pending=ev.cards[:MAX_PER_VISIT],
            answerer=s.worker_id,
        )
        qo = q.QOutcome(state=held)
    else:
        qo = q.start(
            "professional",
            ev.cards,
            ev.question_ttl_minutes,
            s.session_id,
            now,
            answerer=s.worker_id,
        )
    phase: Phase = "done" if qo.state.finished else "asking"
    new = s.model_copy(
        update={
            "phase": phase,
            "checked_out_at": ev.at,
            "checkout": check,
            "duration_minutes": minutes,
            "travel_minutes": ev.travel_minutes,
            "awaiting_reason": awaiting,
            "questions": qo.state,
        }
    )
    return Outcome(state=new, replies=replies + qo.replies, flags=flags, asked=qo.asked)


def _thanks(s: VisitState) -> str:
    return f"Thank you, {first_name(s.worker_name)} — that's all for today."


def step(s: VisitState, ev: VisitEvent, now: dt.datetime) -> Outcome:
    """Apply one event to an open visit conversation."""
    if isinstance(ev, CheckIn):
        return Outcome(
            state=s,
            replies=[
                _notice(
                    "professional",
                    f"You're already checked in (since {hhmm(s.checked_in_at)}).",
                    "bot.hint",
                    session=s.session_id,
                )
            ],
        )
    if isinstance(ev, CheckOut):
        return _check_out(s, ev, now)
    if isinstance(ev, Text):
        if s.awaiting_reason is None or not ev.body.strip():
            return Outcome(state=s, changed=False)
        text = ev.body.strip()[:REASON_MAX]
        update: dict[str, object] = {"awaiting_reason": None}
        if s.awaiting_reason in ("check_in", "both"):
            update["reason"] = text
        if s.awaiting_reason in ("check_out", "both"):
            update["checkout_reason"] = text
        done = s.model_copy(update=update)
        thanks = _notice(
            "professional",
            "Thanks — reason noted for the care manager.",
            "visit.reason_noted",
            session=s.session_id,
        )
        if done.questions is not None and not done.questions.finished:
            # Questions held back by a far check-out: asked now, after the reason.
            qo = q.ask_next(done.questions, s.session_id, now)
            if qo.changed:
                done = done.model_copy(update={"questions": qo.state})
                if qo.state.finished:
                    done = done.model_copy(update={"phase": "done"})
                return Outcome(state=done, replies=[thanks, *qo.replies], asked=qo.asked)
        if done.phase == "asking" and done.questions and done.questions.finished:
            done = done.model_copy(update={"phase": "done"})
        return Outcome(state=done, replies=[thanks])
    if isinstance(ev, Answer):
        if s.questions is None:
            return Outcome(state=s, changed=False)
        qo = q.answer(
            s.questions,
            card_id=ev.card_id,
            value=ev.value,
            by=ev.by,
            at=ev.at,
            session_id=s.session_id,
            message_id=ev.message_id,
            now=now,
            thanks=_thanks(s),
        )
        return _with_questions(s, qo)
    if isinstance(ev, Expire):
        if s.questions is None:
            return Outcome(state=s, changed=False)
        return _with_questions(s, q.expire(s.questions, ev.card_id))
    raise TypeError(f"unknown event {type(ev).__name__}")


def _with_questions(s: VisitState, qo: q.QOutcome) -> Outcome:
    if not qo.changed:
        return Outcome(state=s, changed=False)
    phase = "done" if qo.state.finished else s.phase
    new = s.model_copy(update={"questions": qo.state, "phase": phase})
    return Outcome(
        state=new, replies=qo.replies, flags=qo.flags, observations=qo.observations, asked=qo.asked
    )


def is_stale(s: VisitState, now: dt.datetime) -> bool:
    """An open visit nobody checked out of for half a day does not block a new check-in."""
    return s.phase == "visiting" and now - s.checked_in_at > STALE_VISIT
