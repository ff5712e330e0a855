"""Exceptions-queue actions on pages: review a location exception, exempt a person's home.

Thin adapters over ``bots.exceptions`` (which authorises: the person's provider's care
managers; any other caller gets the page's 404).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from bots.exceptions import (
    ExemptionIn,
    ReviewIn,
    check_review_location_exception,
    check_set_location_exemption,
)
from rooms.errors import CoCareError, NotFound
from web.pages import person_page


def _back(**kw: str) -> str:
    url = reverse("exceptions")
    return url + "?" + urlencode(kw) if kw else url


@require_POST
@person_page
def review_location(request, visit_id: int):
    try:
        data = ReviewIn(
            decision=request.POST.get("decision", ""), note=request.POST.get("note", "")
        )
    except ValidationError:
        msg = "Choose accept or dispute and write a note (3-300 characters)."
        return redirect(_back(error=msg))
    try:
        check_review_location_exception(request.person, visit_id, data)
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return redirect(_back(error=exc.message))
    return redirect(_back())


@require_POST
@person_page
def location_exemption(request, su_id: int):
    try:
        data = ExemptionIn(
            exempt=request.POST.get("exempt") == "on", reason=request.POST.get("reason", "")
        )
    except ValidationError:
        return redirect(_back(error="The reason is at most 200 characters."))
    try:
        check_set_location_exemption(request.person, su_id, data)
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return redirect(_back(error=exc.message))
    return redirect(_back())
