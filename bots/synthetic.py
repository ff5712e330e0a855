"""Synthetic visit history for demos and scale tests (``web.demo.build_scale`` calls it).

Bulk-inserts visits and observations directly, like a data import: no log entries, no
bot sessions, no flags — history is not news. Scores follow a slow per-person random
walk per domain, so dashboards show plausible series rather than noise.

Cost: about ``visits_per_week * weeks`` visits and ``3 * question_rate`` observations per
visit, buffered in a ``rooms.bulkload.BulkLoader`` (COPY on PostgreSQL): no per-row and
no per-person queries beyond the goal, so a caller seeding many people writes them in a
few large batches.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import transaction

from bots.models import Goal, Observation, Visit
from bots.questionbank import ROTATION_DOMAINS, QuestionBank, load_bank
from rooms.bulkload import BulkLoader
from rooms.models import Person, ServiceUser

VISIT_HOURS = (8, 12, 17, 20)  # morning, lunch, tea, bed


@dataclass
class Generated:
    visits: int
    observations: int
    # The buffered visit rows (id, worker_id, checked_in_at, ...), in generation order:
    # the caller may amend them (planned_visit_id, late) until the loader flushes.
    visit_rows: list[dict[str, Any]] | None = None


@cache
def _bank() -> QuestionBank:
    # Parsed once per process: a seed of thousands of people would parse it per person.
    return load_bank()


def _walk(level: float, rng: random.Random) -> float:
    """Mean-reverting step in [0, 4]: mostly well, with occasional rough patches."""
    level += rng.gauss(0, 0.25) + (0.6 - level) * 0.05
    return min(4.0, max(0.0, level))


def generate_history(
    service_user: ServiceUser,
    workers: list[Person],
    start: dt.datetime,
    end: dt.datetime,
    rng: random.Random,
    *,
    visits_per_week: int = 5,
    question_rate: float = 0.6,
    with_goal: bool | None = None,
    loader: BulkLoader | None = None,
) -> Generated:
    """Write ``service_user``'s visits and observations between ``start`` and ``end``.

    With ``loader`` the rows are only buffered there (the caller flushes and commits);
    without, they are written before returning. The same ``rng`` state gives the same
    rows either way. Idempotence is the caller's: call once per person (the demo builds
    fresh people).
    """
    if not workers or end <= start:
        return Generated(0, 0, [])
    bank = _bank()
    by_domain = {
        d: [q for q in bank.questions if q.kind == "question" and q.domain == d]
        for d in ROTATION_DOMAINS
    }
    screener = bank.screener
    goal_q = bank.goal_question
    goal = None
    if with_goal if with_goal is not None else rng.random() < 0.5:
        goal = Goal.objects.create(
            service_user=service_user, text="Walk to the shop once a week", created_at=start
        )
    domains = [d for d in ROTATION_DOMAINS if by_domain[d] or (d == "personal_goals" and goal)]
    level = {d: rng.uniform(0, 1.2) for d in ROTATION_DOMAINS}
    days = (end - start).days
    per_day = visits_per_week / 7
    visits: list[dict[str, Any]] = []
    plans: list[list[tuple]] = []
    turn = 0
    home_lat, _home_lon = service_user.home_lat, service_user.home_lon
    for day in range(days):
        n = int(per_day) + (1 if rng.random() < per_day - int(per_day) else 0)
        base = (start + dt.timedelta(days=day)).replace(minute=0, second=0, microsecond=0)
        for k in range(n):
            hour = VISIT_HOURS[k % len(VISIT_HOURS)]
            cin = base.replace(hour=hour) + dt.timedelta(minutes=rng.randint(-20, 40))
            if cin < start or cin >= end:
                continue
            minutes = max(5, int(rng.gauss(32, 8)))
            out_of_range = rng.random() < 0.03
            location = Visit.Location.OUT_OF_RANGE if out_of_range else Visit.Location.IN_RANGE
            if home_lat is None:
                location = Visit.Location.NO_HOME
            # Keys in the order of the rng calls they make (the generator's contract: the
            # same seed gives the same history).
            visits.append(
                {
                    "service_user_id": service_user.pk,
                    "worker_id": rng.choice(workers).pk,
                    "checked_in_at": cin,
                    "checkin_location": location.value,
                    "checked_out_at": cin + dt.timedelta(minutes=minutes),
                    "checkout_location": location.value,
                    "duration_minutes": minutes,
                    "checkin_distance_m": rng.uniform(300, 2000)
                    if out_of_range
                    else rng.uniform(0, 60),
                    "exception_reason": "Phone GPS off" if out_of_range else "",
                    "travel_minutes": rng.randint(5, 30),
                    "late": rng.random() < 0.05,
                }
            )
            asks: list[tuple] = []
            if rng.random() < question_rate:
                for d in level:
                    level[d] = _walk(level[d], rng)
                worst = max(level.values())
                asks.append(
                    (screener, "health", None, 4 if worst > 3.2 else 2 if worst > 2.2 else 0)
                )
                for j in range(2):
                    d = domains[(turn + j) % len(domains)]
                    if d == "personal_goals":
                        asks.append((goal_q, d, goal, _score(goal_q, level[d])))
                    else:
                        q = by_domain[d][rng.randrange(len(by_domain[d]))]
                        asks.append((q, d, None, _score(q, level[d])))
                turn += 2
            plans.append(asks)
    own = loader is None
    sink = BulkLoader() if loader is None else loader
    observations = 0
    for v, vid in zip(visits, sink.ids(Visit, len(visits)), strict=True):
        v["id"] = vid
        sink.add(Visit, v)
    for v, asks in zip(visits, plans, strict=True):
        for q, d, g, score in asks:
            observations += 1
            sink.add(
                Observation,
                {
                    "service_user_id": service_user.pk,
                    "domain": d,
                    "question_key": q.key,
                    "question_version": q.version,
                    "score": score,
                    "visit_id": v["id"],
                    "goal_id": g.pk if g is not None else None,
                    "answered_by_id": v["worker_id"],
                    "at": v["checked_out_at"],
                },
            )
    if own:
        with transaction.atomic():
            sink.flush()
    return Generated(len(visits), observations, visits)


def _score(q, level: float) -> int:
    """The option score nearest to the latent level (options are the bank's)."""
    return min((o.score for o in q.options), key=lambda s: abs(s - level))
