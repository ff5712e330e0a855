"""Reading what the pure flows need from the database (read-only helpers).

Nothing here writes. The runner builds flow events from these and applies outcomes.
"""

from __future__ import annotations

import datetime as dt

from bots.flows.checkin import KeyInfo, PlannedRef
from bots.flows.questions import CardSpec, card_spec
from bots.geo import Home
from bots.models import BotQuestion, Goal, Observation, PlannedVisit, Visit
from bots.questionbank import QuestionBank
from bots.selection import Asked, GoalRef, select_questions
from rooms import keyinfo
from rooms.models import Person, ServiceUser

# A check-in matches a planned visit from this long before its window opens ...
EARLY_MATCH = dt.timedelta(minutes=90)
# ... until this long after the missed-visit check.
LATE_MATCH = dt.timedelta(hours=6)
# Travel time is recorded only when the previous check-out was this recent (same shift).
TRAVEL_WINDOW = dt.timedelta(hours=4)
HISTORY_ROWS = 300


def home_of(su: ServiceUser) -> Home:
    return Home(
        lat=su.home_lat,
        lon=su.home_lon,
        radius_m=max(1, su.checkin_radius_m),
        exempt=su.location_exempt,
    )


def key_info_for(su: ServiceUser, worker: Person, before: dt.datetime) -> KeyInfo:
    last = (
        Visit.objects.filter(service_user=su, worker=worker, checked_in_at__lt=before)
        .order_by("-checked_in_at")
        .only("checked_in_at")
        .first()
    )
    changed = None
    fields: list[str] = []
    if last is not None and su.key_info_updated_at and su.key_info_updated_at > last.checked_in_at:
        changed = su.key_info_updated_at
        fields = keyinfo.changed_since(su, last.checked_in_at)[1]
    return KeyInfo(
        first_visit=last is None,
        changed_since_last=changed,
        changed_fields=fields,
        preferences=su.preferences,
        what_matters=su.what_matters,
        communication_needs=su.communication_needs,
        access_notes=su.access_notes,
    )


def match_planned(su: ServiceUser, worker: Person, at: dt.datetime) -> PlannedVisit | None:
    """The unvisited planned visit this check-in belongs to: the worker's own first."""
    qs = PlannedVisit.objects.filter(
        service_user=su,
        status=PlannedVisit.Status.PLANNED,
        visit__isnull=True,
        window_start__lte=at + EARLY_MATCH,
        missed_check_at__gte=at - LATE_MATCH,
    )
    rows = list(qs.order_by("window_start")[:20])
    if not rows:
        return None
    own = [p for p in rows if p.worker_id == worker.id]
    pool = own or rows
    return min(pool, key=lambda p: abs((p.window_start - at).total_seconds()))


def planned_ref(p: PlannedVisit | None) -> PlannedRef | None:
    if p is None:
        return None
    return PlannedRef(id=p.id, window_start=p.window_start, window_end=p.window_end)


def travel_minutes(worker: Person, visit_id: int, checked_in_at: dt.datetime) -> int | None:
    prev = (
        Visit.objects.filter(
            worker=worker, checked_out_at__isnull=False, checked_out_at__lte=checked_in_at
        )
        .exclude(pk=visit_id)
        .order_by("-checked_out_at")
        .only("checked_out_at")
        .first()
    )
    if prev is None or checked_in_at - prev.checked_out_at > TRAVEL_WINDOW:
        return None
    return int((checked_in_at - prev.checked_out_at).total_seconds() // 60)


def _key(question_key: str, goal_id: int | None) -> str:
    return f"{question_key}:{goal_id}" if goal_id else question_key


def history_for(su: ServiceUser) -> dict[str, Asked]:
    """Per ask key: when last asked (card posted or answer recorded), newest scores first."""
    last: dict[str, dt.datetime] = {}
    scores: dict[str, list[int]] = {}
    for qk, gid, at in (
        BotQuestion.objects.filter(service_user=su)
        .order_by("-asked_at")
        .values_list("question_key", "goal_id", "asked_at")[:HISTORY_ROWS]
    ):
        k = _key(qk, gid)
        last[k] = max(last.get(k, at), at)
    for qk, gid, score, at in (
        Observation.objects.filter(service_user=su)
        .order_by("-at")
        .values_list("question_key", "goal_id", "score", "at")[:HISTORY_ROWS]
    ):
        k = _key(qk, gid)
        last[k] = max(last.get(k, at), at)
        if len(scores.setdefault(k, [])) < 2:
            scores[k].append(score)
    return {k: Asked(last_asked=at, scores=scores.get(k, [])) for k, at in last.items()}


def goals_for(su: ServiceUser) -> list[GoalRef]:
    return [
        GoalRef(id=g.id, text=g.text)
        for g in Goal.objects.filter(service_user=su, active=True).order_by("id")
    ]


def cards_for_visit(bank: QuestionBank, su: ServiceUser) -> list[CardSpec]:
    history = history_for(su)
    picks = select_questions(bank, history, goals_for(su))
    out = []
    for p in picks:
        h = history.get(p.ask_key)
        prev = h.scores[0] if h is not None and h.scores else None
        out.append(card_spec(bank.get(p.question_key), p, su.name, prev))
    return out
