"""Goals and "what matters to me": who writes them, and their progress for the team.

Written by the provider's care manager, the person themselves, or a family member the
person agreed may (``rooms.access.may_write_goals``); read by them and by everyone who
sees key information (``rooms.access.access_goals``). Progress is the goal's
observations (the bot's goal questions, score 0 = as good as it gets … 4 = worst).
Every write is audited with ids only; "what matters to me" is key information, so it is
written through ``rooms.network.do_update_service_user`` and gets a key-info version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext, gettext_noop
from pydantic import BaseModel, ConfigDict, Field

from bots.models import Goal, Observation
from bots.schedule import GoalIn
from cocare_chat import clock
from rooms import audit
from rooms.access import access_goals, is_provider_manager
from rooms.errors import NotFound
from rooms.models import Person, ServiceUser
from rooms.network import do_update_service_user

PROGRESS_POINTS = 6
SCORE_WORDS = {
    0: gettext_noop("very good"),
    1: gettext_noop("good"),
    2: gettext_noop("so-so"),
    3: gettext_noop("not good"),
    4: gettext_noop("bad"),
}


class WhatMattersIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    what_matters: str = Field(max_length=4000)


@dataclass(frozen=True)
class Point:
    at: dt.datetime
    score: int

    @property
    def words(self) -> str:
        """In the reader's language (the active one)."""
        return gettext(SCORE_WORDS[self.score]) if self.score in SCORE_WORDS else str(self.score)


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    points: list[Point]  # newest first

    @property
    def trend(self) -> str:
        """In the reader's language (the active one)."""
        if len(self.points) < 2:
            if not self.points:
                return gettext("not enough answers yet")
            return gettext("one answer so far")
        now, before = self.points[0].score, self.points[1].score
        if now < before:
            return gettext("better")
        return gettext("worse") if now > before else gettext("the same")


def progress(su: ServiceUser, *, include_ended: bool = True) -> list[GoalProgress]:
    goals = list(Goal.objects.filter(service_user=su).order_by("-active", "id"))
    if not include_ended:
        goals = [g for g in goals if g.active]
    points: dict[int, list[Point]] = {g.id: [] for g in goals}
    for gid, at, score in (
        Observation.objects.filter(goal_id__in=points)
        .order_by("-at")
        .values_list("goal_id", "at", "score")[: 50 * max(1, len(goals))]
    ):
        if len(points[gid]) < PROGRESS_POINTS:
            points[gid].append(Point(at, score))
    return [GoalProgress(g, points[g.id]) for g in goals]


def check_write_goal(actor: Person, su_id: int, data: GoalIn) -> Goal:
    su = access_goals(actor, su_id, write=True)
    now = clock.now()
    with transaction.atomic():
        g = Goal.objects.create(service_user=su, text=data.text, created_by=actor, created_at=now)
        audit.record(actor, "goal.create", service_user=su, target=f"goal:{g.id}", now=now)
    return g


def check_end_goal_as_writer(actor: Person, su_id: int, goal_id: int, *, achieved: bool) -> Goal:
    """The care manager or the person themselves ends a goal (achieved or not)."""
    g = (
        Goal.objects.select_related("service_user")
        .filter(pk=goal_id, service_user_id=su_id, active=True)
        .first()
    )
    su = g.service_user if g else None
    if su is None or not (
        is_provider_manager(actor, su) or (su.person_id is not None and su.person_id == actor.id)
    ):
        raise NotFound("No such goal.")
    now = clock.now()
    with transaction.atomic():
        g.active = False
        g.achieved_at = now if achieved else None
        g.save(update_fields=["active", "achieved_at"])
        audit.record(actor, "goal.end", service_user=su, target=f"goal:{g.id}", now=now)
    return g


def check_write_what_matters(actor: Person, su_id: int, data: WhatMattersIn) -> ServiceUser:
    su = access_goals(actor, su_id, write=True)
    return do_update_service_user(su, by=actor, what_matters=data.what_matters)
