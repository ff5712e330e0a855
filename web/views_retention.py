"""``/retention/``: the provider's retention policy and legal holds, for its care managers.

Thin adapter over ``rooms.retention_actions`` (authorises, writes, audits); anyone else
gets the 404 page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from rooms import access
from rooms.errors import NotFound
from rooms.retention_actions import (
    HoldIn,
    PolicyIn,
    check_place_hold,
    check_release_hold,
    check_set_policy,
    holds_for,
    managed_service_user,
    policy_of,
    provider_of,
)
from web.pages import page, person_page


def _back(**kw: str) -> str:
    url = reverse("retention")
    return url + "?" + urlencode(kw) if kw else url


def _msg(exc: ValidationError) -> str:
    return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors()[:3])


@person_page
def retention_page(request):
    person = request.person
    policy = policy_of(person)
    holds = holds_for(person)
    people = [
        {"su": su, "hold": holds.get(su.id)}
        for su in access.managed_service_users(person).order_by("full_name")
    ]
    return page(
        request,
        "web/retention.html",
        {
            "policy": policy,
            "people": people,
            "error": request.GET.get("error", "")[:200],
            "done": request.GET.get("done", "")[:200],
        },
        active="retention",
    )


def _days(v: str) -> int | str | None:
    v = v.strip()
    return None if v == "" else (int(v) if v.isdigit() and len(v) < 7 else v)


@require_POST
@person_page
def retention_policy(request):
    provider_of(request.person)  # anyone but a care manager: the 404, before any message
    try:
        data = PolicyIn(
            message_days=_days(request.POST.get("message_days", "")),
            position_days=_days(request.POST.get("position_days", "")),
        )
    except ValidationError as exc:
        return redirect(_back(error=_msg(exc)))
    check_set_policy(request.person, data)
    return redirect(_back(done="Retention policy saved."))


@require_POST
@person_page
def legal_hold(request, su_id: int, action: str):
    person = request.person
    managed_service_user(person, su_id)  # anyone else: the 404, before any message
    if action == "place":
        try:
            data = HoldIn(reason=request.POST.get("reason", ""))
        except ValidationError:
            return redirect(_back(error="Say why the record is held (3-200 characters)."))
        check_place_hold(person, su_id, data)
    elif action == "release":
        check_release_hold(person, su_id)
    else:
        raise NotFound("Not found.")
    return redirect(_back())
