"""Wellbeing question cards, one at a time (pure).

Guarantees:
- never more than ``MAX_PER_VISIT`` cards in one questions state (checked here too, not
  only by the selection);
- one open card at a time; an answer applies only to the open card;
- an unanswered card expires quietly: the remaining questions are dropped, nothing is
  posted (no nagging);
- each answer becomes one observation; a flag is raised when the answer reaches the
  question's flag score and is worse than the previous answer (or there was none).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from bots.flows.common import Flag, ObservationOut, Reply, RoomKind, Strict
from bots.questionbank import FlagRule, Question
from bots.selection import MAX_PER_VISIT, Pick


class CardOptionSpec(Strict):
    number: int = Field(ge=1, le=10)
    label: str
    emoji: str
    colour: str
    score: int


class CardSpec(Strict):
    """A question ready to post: rendered text, options, and what to compare against."""

    ask_key: str
    question_key: str
    version: int
    domain: str
    kind: Literal["screener", "question", "goal", "family_voice"]
    title: str
    options: list[CardOptionSpec] = Field(min_length=2, max_length=10)
    flag: FlagRule | None = None
    goal_id: int | None = None
    previous_score: int | None = None
    follow_up: bool = False


class OpenCard(Strict):
    card_id: str
    n: int
    spec: CardSpec
    posted_at: dt.datetime
    expires_at: dt.datetime


class QuestionsState(Strict):
    room: RoomKind
    ttl_minutes: int = Field(ge=1)
    pending: list[CardSpec] = Field(default_factory=list)
    open_card: OpenCard | None = None
    asked: int = 0
    answered: int = 0
    finished: bool = False
    limit: int = MAX_PER_VISIT
    # Who answers by number (the visit's care worker): named in each card's data as
    # ``worker`` so other readers of the log (the Matrix bridge) can tell them how.
    answerer: int | None = None


class Asked(Strict):
    """A card posted by this step (the runner records a BotQuestion for it)."""

    card_id: str
    spec: CardSpec
    expires_at: dt.datetime


class QOutcome(Strict):
    state: QuestionsState
    replies: list[Reply] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    observations: list[ObservationOut] = Field(default_factory=list)
    asked: list[Asked] = Field(default_factory=list)
    changed: bool = True


def card_spec(q: Question, pick: Pick | None, name: str, previous: int | None) -> CardSpec:
    goal = pick.goal if pick is not None else None
    return CardSpec(
        ask_key=pick.ask_key if pick is not None else q.key,
        question_key=q.key,
        version=q.version,
        domain=q.domain,
        kind=q.kind,
        title=q.render(name, goal.text if goal else None),
        options=[
            CardOptionSpec(
                number=i + 1, label=o.label, emoji=o.emoji, colour=o.colour, score=o.score
            )
            for i, o in enumerate(q.options)
        ],
        flag=q.flag,
        goal_id=goal.id if goal else None,
        previous_score=previous,
        follow_up=pick.follow_up if pick is not None else False,
    )


def card_id_for(session_id: int, n: int) -> str:
    return f"s{session_id}q{n}"


def start(
    room: RoomKind,
    specs: list[CardSpec],
    ttl_minutes: int,
    session_id: int,
    now: dt.datetime,
    answerer: int | None = None,
) -> QOutcome:
    qs = QuestionsState(
        room=room, ttl_minutes=ttl_minutes, pending=specs[:MAX_PER_VISIT], answerer=answerer
    )
    return ask_next(qs, session_id, now)


def ask_next(qs: QuestionsState, session_id: int, now: dt.datetime) -> QOutcome:
    if qs.open_card is not None or qs.finished:
        return QOutcome(state=qs, changed=False)
    if not qs.pending or qs.asked >= min(qs.limit, MAX_PER_VISIT):
        return QOutcome(state=qs.model_copy(update={"pending": [], "finished": True}))
    spec, rest = qs.pending[0], qs.pending[1:]
    n = qs.asked + 1
    cid = card_id_for(session_id, n)
    expires = now + dt.timedelta(minutes=qs.ttl_minutes)
    payload = {
        "card_id": cid,
        "card_type": spec.kind,
        "title": spec.title,
        "options": [
            {"value": o.number, "label": o.label, "emoji": o.emoji, "colour": o.colour}
            for o in spec.options
        ],
        "data": {
            "question_key": spec.question_key,
            "version": spec.version,
            "domain": spec.domain,
            "goal": spec.goal_id,
            "n": n,
            "of": min(n + len(rest), MAX_PER_VISIT),
            **({"worker": qs.answerer} if qs.answerer is not None else {}),
        },
        "expires_at": expires.isoformat(),
    }
    open_card = OpenCard(card_id=cid, n=n, spec=spec, posted_at=now, expires_at=expires)
    new = qs.model_copy(update={"pending": rest, "open_card": open_card, "asked": n})
    return QOutcome(
        state=new,
        replies=[Reply(room=qs.room, kind="card", body="", payload=payload)],
        asked=[Asked(card_id=cid, spec=spec, expires_at=expires)],
    )


def answer(
    qs: QuestionsState,
    *,
    card_id: str | None,
    value: int,
    by: int,
    at: dt.datetime,
    session_id: int,
    message_id: int | None,
    now: dt.datetime,
    thanks: str,
) -> QOutcome:
    """Apply an answer (a tap names the card; a number reply means the open card)."""
    card = qs.open_card
    if card is None or (card_id is not None and card_id != card.card_id):
        return QOutcome(state=qs, changed=False)
    opts = {o.number: o for o in card.spec.options}
    if value not in opts:
        hint = f"Please tap an answer, or reply with a number from 1 to {len(card.spec.options)}."
        return QOutcome(
            state=qs,
            replies=[
                Reply(
                    room=qs.room,
                    kind="system",
                    body=hint,
                    payload={"event": "bot.hint", "data": {}},
                )
            ],
        )
    opt = opts[value]
    spec = card.spec
    obs = ObservationOut(
        card_id=card.card_id,
        question_key=spec.question_key,
        question_version=spec.version,
        domain=spec.domain,
        score=opt.score,
        goal_id=spec.goal_id,
        answered_by=by,
        at=at,
    )
    flags = []
    rule = spec.flag
    prev = spec.previous_score
    if (
        rule is not None
        and opt.score >= rule.at_score
        and (prev is None or prev < rule.at_score or opt.score > prev)
    ):
        was = ""
        if prev is not None:
            was = f" (last time {prev}/4)"
        flags.append(
            Flag(
                concern=rule.concern,
                severity=rule.severity,
                source="bot.screener" if spec.kind == "screener" else "bot.answer",
                ref=f"session:{session_id}:{spec.ask_key}",
                reason=f"{spec.question_key.replace('_', ' ')}: '{opt.label}'{was}"[:300],
                message_id=message_id,
            )
        )
    answered = qs.model_copy(update={"open_card": None, "answered": qs.answered + 1})
    nxt = ask_next(answered, session_id, now)
    replies = list(nxt.replies)
    if nxt.state.finished:
        replies.append(
            Reply(
                room=qs.room,
                kind="system",
                body=thanks,
                payload={"event": "bot.thanks", "data": {}},
            )
        )
    return QOutcome(
        state=nxt.state, replies=replies, flags=flags, observations=[obs], asked=nxt.asked
    )


def expire(qs: QuestionsState, card_id: str) -> QOutcome:
    """Quiet expiry: the open card and everything after it are dropped, nothing posted."""
    if qs.open_card is None or qs.open_card.card_id != card_id:
        return QOutcome(state=qs, changed=False)
    return QOutcome(
        state=qs.model_copy(update={"open_card": None, "pending": [], "finished": True})
    )
