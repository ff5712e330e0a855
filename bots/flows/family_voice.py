"""The family-voice question: one care-experience card in the family room (pure).

Asked at most weekly per service user (the runner keys it on ISO week, and also waits
seven days since the last one). Any family member or the service user may answer; the
first answer is the observation. Unanswered, it expires quietly.
"""

from __future__ import annotations

import datetime as dt

from bots.flows import questions as q
from bots.flows.common import Strict


class FamilyVoiceState(Strict):
    session_id: int
    questions: q.QuestionsState


def start(
    spec: q.CardSpec, *, session_id: int, ttl_minutes: int, now: dt.datetime
) -> tuple[FamilyVoiceState, q.QOutcome]:
    qo = q.start("family", [spec], ttl_minutes, session_id, now)
    return FamilyVoiceState(session_id=session_id, questions=qo.state), qo


def answer(
    s: FamilyVoiceState,
    *,
    card_id: str | None,
    value: int,
    by: int,
    at: dt.datetime,
    message_id: int | None,
    now: dt.datetime,
) -> tuple[FamilyVoiceState, q.QOutcome]:
    qo = q.answer(
        s.questions,
        card_id=card_id,
        value=value,
        by=by,
        at=at,
        session_id=s.session_id,
        message_id=message_id,
        now=now,
        thanks="Thank you — your view helps us get the care right.",
    )
    return s.model_copy(update={"questions": qo.state}), qo


def expire(s: FamilyVoiceState, card_id: str) -> tuple[FamilyVoiceState, q.QOutcome]:
    qo = q.expire(s.questions, card_id)
    return s.model_copy(update={"questions": qo.state}), qo
