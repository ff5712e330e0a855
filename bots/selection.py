"""Which wellbeing questions to ask at a check-out (pure; no DB).

Rules, in order:

1. the "different from usual?" screener is always first;
2. then up to two more (never more than ``MAX_PER_VISIT`` in all), each from a different
   domain of the rotation (social care needs, health, care experience, personal goals);
3. follow-ups first: a question whose last answer was worse (its score reached the
   question's ``follow_up_at``, or was higher than the answer before it) is asked again,
   the most concerning first;
4. then the domains asked least recently (never asked = stalest), and within a domain the
   question asked least recently, bank order breaking ties;
5. personal goals take part only when the person has active goals; each goal is a
   separate "question" (``goal_progress:<goal id>``).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from bots.questionbank import ROTATION_DOMAINS, Question, QuestionBank

MAX_PER_VISIT = 3
NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Asked(Strict):
    """What happened the last times one ask key was put (newest first)."""

    last_asked: dt.datetime
    # Scores of the most recent answers, newest first (may be empty: never answered).
    scores: list[int] = Field(default_factory=list)


class GoalRef(Strict):
    id: int
    text: str


class Pick(Strict):
    ask_key: str
    question_key: str
    domain: str
    goal: GoalRef | None = None
    follow_up: bool = False


def ask_key(question: Question, goal: GoalRef | None = None) -> str:
    return f"{question.key}:{goal.id}" if goal is not None else question.key


def is_follow_up(question: Question, asked: Asked | None) -> bool:
    if asked is None or not asked.scores or question.follow_up_at is None:
        return False
    last = asked.scores[0]
    if last >= question.follow_up_at:
        return True
    return len(asked.scores) > 1 and last > asked.scores[1] and last > 0


def candidates(bank: QuestionBank, goals: list[GoalRef]) -> list[Pick]:
    out: list[Pick] = []
    for q in bank.questions:
        if q.kind == "question" and q.domain in ROTATION_DOMAINS:
            out.append(Pick(ask_key=ask_key(q), question_key=q.key, domain=q.domain))
    gq = bank.goal_question
    for g in goals:
        out.append(Pick(ask_key=ask_key(gq, g), question_key=gq.key, domain=gq.domain, goal=g))
    return out


def select_questions(
    bank: QuestionBank,
    history: dict[str, Asked],
    goals: list[GoalRef],
    limit: int = MAX_PER_VISIT,
) -> list[Pick]:
    """The ordered questions for one visit: screener first, at most ``limit`` (<= 3)."""
    limit = max(0, min(limit, MAX_PER_VISIT))
    if limit == 0:
        return []
    s = bank.screener
    picks = [Pick(ask_key=s.key, question_key=s.key, domain=s.domain)]
    pool = candidates(bank, goals)
    order = {p.ask_key: i for i, p in enumerate(pool)}

    def last(p: Pick) -> dt.datetime:
        a = history.get(p.ask_key)
        return a.last_asked if a is not None else NEVER

    used: set[str] = set()
    follow = [p for p in pool if is_follow_up(bank.get(p.question_key), history.get(p.ask_key))]
    follow.sort(key=lambda p: (-history[p.ask_key].scores[0], last(p), order[p.ask_key]))
    for p in follow:
        if len(picks) >= limit:
            break
        if p.domain not in used:
            picks.append(p.model_copy(update={"follow_up": True}))
            used.add(p.domain)

    domain_last: dict[str, dt.datetime] = {}
    for p in pool:
        domain_last[p.domain] = max(domain_last.get(p.domain, NEVER), last(p))
    domains = sorted(
        (d for d in domain_last if d not in used),
        key=lambda d: (domain_last[d], ROTATION_DOMAINS.index(d)),
    )
    for d in domains:
        if len(picks) >= limit:
            break
        best = min((p for p in pool if p.domain == d), key=lambda p: (last(p), order[p.ask_key]))
        picks.append(best)
        used.add(d)
    return picks[:limit]
