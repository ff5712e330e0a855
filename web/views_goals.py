"""The goals and "what matters to me" page (``bots.goals``): progress for everyone who
may read it; the write forms for the care manager, the person, and family the person
agreed may write. Refusals are the page's 404."""

from __future__ import annotations

from django import forms
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import ensure_csrf_cookie
from pydantic import ValidationError

from bots.goals import (
    WhatMattersIn,
    check_end_goal_as_writer,
    check_write_goal,
    check_write_what_matters,
    progress,
)
from bots.schedule import GoalIn
from rooms import access, audit
from rooms.errors import CoCareError, NotFound
from web.pages import page, person_page


class GoalForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("A goal, in their words"), min_length=3, max_length=200
    )


class WhatMattersForm(forms.Form):
    what_matters = forms.CharField(
        label=gettext_lazy("What matters to me"),
        max_length=4000,
        required=False,
        widget=forms.Textarea({"rows": 3}),
    )


@person_page
@ensure_csrf_cookie
def goals(request, su_id: int):
    person = request.person
    su = access.access_goals(person, su_id, write=request.method == "POST")
    writer = access.may_write_goals(person, su)
    ender = access.is_provider_manager(person, su) or su.person_id == person.id
    goal_form = GoalForm(prefix="goal")
    wm_form = WhatMattersForm(prefix="wm", initial={"what_matters": su.what_matters})
    error = ""
    if request.method == "POST":
        what = request.POST.get("what", "")
        try:
            if what == "goal":
                goal_form = GoalForm(request.POST, prefix="goal")
                if goal_form.is_valid():
                    check_write_goal(person, su.id, GoalIn(**goal_form.cleaned_data))
                    return redirect(reverse("goals", args=[su.id]) + "?saved=1")
            elif what == "what_matters":
                wm_form = WhatMattersForm(request.POST, prefix="wm")
                if wm_form.is_valid():
                    check_write_what_matters(person, su.id, WhatMattersIn(**wm_form.cleaned_data))
                    return redirect(reverse("goals", args=[su.id]) + "?saved=1")
            elif what in ("achieved", "ended"):
                goal_id = request.POST.get("goal", "")
                if not goal_id.isdigit() or len(goal_id) > 18:
                    raise NotFound("No such goal.")
                check_end_goal_as_writer(person, su.id, int(goal_id), achieved=what == "achieved")
                return redirect(reverse("goals", args=[su.id]) + "?saved=1")
            else:
                raise NotFound("No such person.")
        except ValidationError as exc:
            error = "; ".join(e["msg"] for e in exc.errors())
        except CoCareError as exc:
            if isinstance(exc, NotFound):
                raise
            error = exc.message
    audit.record(person, "goals.read", service_user=su)
    return page(
        request,
        "web/goals.html",
        {
            "su": su,
            "writer": writer,
            "ender": ender,
            "goals": progress(su),
            "goal_form": goal_form,
            "wm_form": wm_form,
            "error": error,
            "saved": request.GET.get("saved") == "1",
        },
        active="home",
    )
