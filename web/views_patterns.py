"""``/people/<id>/manage/patterns/``: a person's weekly visit patterns — create, change
(end and replace), end. Thin adapter over ``bots.patterns`` (authorises: the person's
provider's care managers; anyone else gets the 404 page)."""

from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from bots.patterns import (
    WEEKDAY_NAMES,
    PatternIn,
    check_create_pattern,
    check_end_pattern,
    check_replace_pattern,
    patterns_for,
)
from rooms.errors import CoCareError, NotFound
from rooms.models import Membership, Role, Room
from web.pages import page, person_page


def _workers(su) -> list:
    team = Room.objects.get(service_user=su, kind=Room.Kind.PROFESSIONAL)
    return [
        m.person
        for m in Membership.objects.filter(
            room=team, removed_at__isnull=True, person__role=Role.CARE_WORKER
        )
        .select_related("person")
        .order_by("person__display_name")
    ]


def _data(post) -> dict:
    return {
        "worker_id": post.get("worker", ""),
        "weekdays": post.getlist("weekdays"),
        "start_time": post.get("start_time", ""),
        "minutes": post.get("minutes", ""),
        "visit_type": post.get("visit_type", ""),
        "starts_on": post.get("starts_on", ""),
        "ends_on": post.get("ends_on", "") or None,
    }


@person_page
def patterns(request, su_id: int):
    person = request.person
    su, rows = patterns_for(person, su_id)
    error = ""
    if request.method == "POST":
        replace = request.POST.get("replace", "")
        try:
            data = PatternIn.model_validate(_data(request.POST))
            if replace:
                if not replace.isdigit():
                    raise NotFound("Not found.")
                check_replace_pattern(person, int(replace), data)
            else:
                check_create_pattern(person, su.id, data)
        except ValidationError as exc:
            error = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'pattern'}: "
                + e["msg"].removeprefix("Value error, ")
                for e in exc.errors()[:3]
            )
        except CoCareError as exc:
            if isinstance(exc, NotFound):
                raise
            error = exc.message
        else:
            return redirect(reverse("patterns", args=[su.id]))
        su, rows = patterns_for(person, su_id)
    edit = request.GET.get("edit", "")
    editing = next((p for p in rows if str(p.id) == edit and p.ended_at is None), None)
    return page(
        request,
        "web/patterns.html",
        {
            "su": su,
            "patterns": [
                {"p": p, "days": ", ".join(WEEKDAY_NAMES[int(c)] for c in p.weekdays)} for p in rows
            ],
            "workers": _workers(su),
            "weekdays": list(enumerate(WEEKDAY_NAMES)),
            "editing": editing,
            "editing_days": [int(c) for c in editing.weekdays] if editing else [],
            "error": error,
        },
        active="home",
    )


@require_POST
@person_page
def pattern_end(request, su_id: int, pattern_id: int):
    check_end_pattern(request.person, pattern_id)
    return redirect(reverse("patterns", args=[su_id]))
