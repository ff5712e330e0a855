"""``/audit/``: the audit viewer for data-protection leads, and its CSV export.

Thin adapter over ``rooms.audit_view`` (which decides who the lead is and the scope;
anyone else gets the 404 page). Filters arrive as query parameters and are validated by
``AuditFilter``; a bad filter is shown as an error with no rows.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from pydantic import ValidationError

from rooms.audit_view import AuditFilter, export_csv, filter_choices, require_lead, view
from web.pages import page, person_page


def _filter(request) -> tuple[AuditFilter | None, str]:
    # Like the API, unknown query parameters are ignored; known ones are validated.
    raw = {k: v for k, v in request.GET.items() if v.strip() and k in AuditFilter.model_fields}
    try:
        return AuditFilter.model_validate(raw), ""
    except ValidationError as exc:
        bad = ", ".join(sorted({str(e["loc"][0]) if e["loc"] else "filter" for e in exc.errors()}))
        return None, f"Check the filter: {bad}."


@person_page
def audit_page(request):
    person = request.person
    lead = require_lead(person)
    f, error = _filter(request)
    rows = view(person, f) if f is not None else []
    for r in rows:
        r["at"] = dt.datetime.fromisoformat(r["at"])
    return page(
        request,
        "web/audit.html",
        {
            "lead": lead,
            "rows": rows,
            "error": error,
            "f": f or AuditFilter(),
            "query": request.GET.urlencode(),
            **filter_choices(person),
        },
        active="audit",
    )


@person_page
def audit_export(request):
    person = request.person
    require_lead(person)
    f, error = _filter(request)
    if f is None:
        return HttpResponse(error, status=422, content_type="text/plain; charset=utf-8")
    resp = HttpResponse(export_csv(person, f), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = 'attachment; filename="cocare-audit.csv"'
    return resp
