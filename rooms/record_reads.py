"""Who from the council read a person's record: the provider's view of the audit log.

Reads come from ``AuditEvent`` (append-only, who/what/when, never content) written by every
record read — dashboards, the summary, alerts and their context windows, and whatever else
audits with the service user's id. The provider's care managers see the rows written by
council staff (assessors and commissioners); access is ``rooms.access.access_record_reads``.
Served by ``GET /api/service-users/{id}/record-reads`` (``rooms.record_reads_api``) and the
page ``/people/<id>/manage/record-reads/`` (``web.views_record_reads``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Max, Min

from rooms.models import AuditEvent, Person, Role, ServiceUser

COUNCIL_ROLES = (Role.ASSESSOR, Role.COMMISSIONER)


def _council_rows(service_user: ServiceUser, since: dt.datetime | None):
    qs = AuditEvent.objects.filter(service_user=service_user, actor__role__in=COUNCIL_ROLES)
    if since is not None:
        qs = qs.filter(at__gte=since)
    return qs


def record_reads(
    service_user: ServiceUser, *, since: dt.datetime | None = None, limit: int = 200
) -> dict[str, Any]:
    """Per reader (first, last, how many) and the latest ``limit`` rows, newest first."""
    rows = (
        _council_rows(service_user, since)
        .select_related("actor", "actor__organisation")
        .order_by("-at", "-id")[:limit]
    )
    per_reader = (
        _council_rows(service_user, since)
        .values("actor_id")
        .annotate(first=Min("at"), last=Max("at"), n=Count("id"))
        .order_by("-last")
    )
    people = {r.actor_id: r.actor for r in rows}
    missing = [p["actor_id"] for p in per_reader if p["actor_id"] not in people]
    if missing:
        people |= {
            p.id: p for p in Person.objects.filter(pk__in=missing).select_related("organisation")
        }
    return {
        "readers": [
            {
                "reader": reader_wire(people[p["actor_id"]]),
                "reads": p["n"],
                "first_at": p["first"].isoformat(),
                "last_at": p["last"].isoformat(),
            }
            for p in per_reader
        ],
        "reads": [
            {
                "at": r.at.isoformat(),
                "reader": reader_wire(r.actor),
                "action": r.action,
                "target": r.target,
            }
            for r in rows
        ],
    }


def reader_wire(p: Person) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.display_name,
        "role": p.role,
        "organisation": p.organisation.name if p.organisation_id else None,
    }
