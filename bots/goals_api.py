"""Goals and "what matters to me" in the API (``bots.goals``): read with progress (the
team, the person, goal-writing family), write (the care manager, the person, family the
person agreed may). Refusals are the one 404 ``No such person.``."""

from __future__ import annotations

from ninja import Router, Status

from bots.goals import (
    GoalProgress,
    WhatMattersIn,
    check_end_goal_as_writer,
    check_write_goal,
    check_write_what_matters,
    progress,
)
from bots.schedule import GoalIn
from rooms import audit
from rooms.access import access_goals, may_write_goals
from rooms.api import Body, ErrorOut, me
from rooms.bounds import Id

router = Router(tags=["goals"])


def progress_wire(p: GoalProgress) -> dict:
    g = p.goal
    return {
        "id": g.id,
        "text": g.text,
        "active": g.active,
        "achieved_at": g.achieved_at.isoformat() if g.achieved_at else None,
        "created_by": g.created_by_id,
        "trend": p.trend,
        "progress": [{"at": x.at.isoformat(), "score": x.score} for x in p.points],
    }


@router.get("/service-users/{su_id}/goals", response={200: dict, 404: ErrorOut})
def goals(request, su_id: Id):
    person = me(request)
    su = access_goals(person, su_id)
    audit.record(person, "goals.read", service_user=su)
    return {
        "service_user": su.id,
        "what_matters": su.what_matters,
        "may_write": may_write_goals(person, su),
        "goals": [progress_wire(p) for p in progress(su)],
    }


class GoalBody(Body, GoalIn):
    pass


@router.post("/service-users/{su_id}/goals", response={201: dict, 404: ErrorOut, 422: ErrorOut})
def write_goal(request, su_id: Id, data: GoalBody):
    g = check_write_goal(me(request), su_id, GoalIn(text=data.text))
    return Status(201, {"id": g.id, "text": g.text, "active": g.active})


class EndBody(Body):
    achieved: bool = False


@router.post("/service-users/{su_id}/goals/{goal_id}/end", response={200: dict, 404: ErrorOut})
def end_goal(request, su_id: Id, goal_id: Id, data: EndBody):
    g = check_end_goal_as_writer(me(request), su_id, goal_id, achieved=data.achieved)
    return {"id": g.id, "active": g.active, "achieved": g.achieved_at is not None}


class WhatMattersBody(Body, WhatMattersIn):
    pass


@router.put(
    "/service-users/{su_id}/what-matters", response={200: dict, 404: ErrorOut, 422: ErrorOut}
)
def what_matters(request, su_id: Id, data: WhatMattersBody):
    su = check_write_what_matters(me(request), su_id, WhatMattersIn(what_matters=data.what_matters))
    return {"service_user": su.id, "what_matters": su.what_matters}
