"""Planned visits by CSV (preview, then commit) and the people's provider references.

Thin adapters over ``bots.import_csv``: it authorises (care managers of their own
provider; anyone else gets the page's 404) and writes. The file's text travels back in the
preview form so the commit re-checks exactly what was previewed.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from bots.import_csv import (
    COLUMNS,
    MAX_BYTES,
    CsvRowsInvalid,
    ReferenceIn,
    check_set_reference,
    commit,
    preview,
)
from rooms import access
from rooms.errors import CoCareError, NotFound
from rooms.models import Role
from web.pages import page, person_page

EXAMPLE = (
    "service_user,worker,date,start,end,expected_minutes,notes\n"
    "BW-001,anna,2026-03-09,08:00,08:30,,breakfast and medicines\n"
)


def _require_manager(person) -> None:
    if person.role != Role.CARE_MANAGER or person.organisation_id is None:
        raise NotFound("Not found.")


def _text(request) -> tuple[str, str]:
    """The CSV text from an uploaded file or the text box; (text, error)."""
    f = request.FILES.get("file")
    if f is not None:
        if f.size > MAX_BYTES:
            return "", "The file is too large (at most 1 MB)."
        raw = f.read()
        try:
            return raw.decode("utf-8-sig"), ""
        except UnicodeDecodeError:
            return "", "The file is not UTF-8 text: save it from your spreadsheet as “CSV UTF-8”."
    return request.POST.get("csv", ""), ""


@person_page
def planned_import(request):
    person = request.person
    _require_manager(person)
    ctx: dict = {
        "columns": COLUMNS,
        "example": EXAMPLE,
        "people": access.managed_service_users(person).order_by("full_name"),
        "done": request.GET.get("done", "")[:200],
        "error": request.GET.get("error", "")[:200],
    }
    if request.method == "POST":
        text, err = _text(request)
        if err:
            ctx["error"] = err
        else:
            ctx["csv"] = text
            if request.POST.get("action") == "commit":
                try:
                    res = commit(text, by=person)
                except CsvRowsInvalid:
                    ctx["preview"] = preview(text, by=person)
                    ctx["error"] = "Some rows changed or are wrong; nothing was imported."
                except CoCareError as exc:
                    if isinstance(exc, NotFound):
                        raise
                    ctx["error"] = exc.message
                else:
                    done = f"{res.created} visit(s) planned; {res.existing} were already planned."
                    return redirect(reverse("planned_import") + "?" + urlencode({"done": done}))
            else:
                ctx["preview"] = preview(text, by=person)
    return page(request, "web/planned_import.html", ctx, active="planning")


@require_POST
@person_page
def set_reference(request, su_id: int):
    person = request.person
    back = reverse("planned_import")
    try:
        data = ReferenceIn(reference=request.POST.get("reference", ""))
        check_set_reference(person, su_id, data)
    except ValidationError:
        msg = "A reference is letters, digits and . _ / - (at most 40)."
        return redirect(back + "?" + urlencode({"error": msg}))
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return redirect(back + "?" + urlencode({"error": exc.message}))
    return redirect(back)
