"""Audit viewer API (mounted at ``/api/audit``) for data-protection leads
(``rooms.audit_view``: scope and who the lead is). Anyone else: the same 404 body."""

from __future__ import annotations

from django.http import HttpResponse
from ninja import Query, Router

from rooms.api import ErrorOut, me
from rooms.audit_view import AuditFilter, export_csv, view

router = Router(tags=["audit"])


@router.get("/events", response={200: list[dict], 404: ErrorOut, 422: ErrorOut})
def list_events(request, q: Query[AuditFilter]):
    """The newest 200 matching events: who, what, which person, when (never content)."""
    return view(me(request), q)


@router.get("/events.csv", response={200: None, 404: ErrorOut, 422: ErrorOut})
def export_events(request, q: Query[AuditFilter]):
    """Every matching event as CSV (``at, actor, actor_role, actor_organisation, action,
    person, target``)."""
    text = export_csv(me(request), q)
    resp = HttpResponse(text, content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = 'attachment; filename="cocare-audit.csv"'
    return resp
