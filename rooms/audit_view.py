"""The audit viewer for an organisation's data-protection lead: who opened or changed
which person's rooms or record, when — filterable and exportable as CSV.

Who the lead is (docs/security.md "Audit viewer"): a provider's **administrators and
care managers** are its data-protection leads; a council's **administrators and
commissioners** are the council's. Scope:

- a provider's lead sees every event about the provider's service users, and events
  about nobody in particular (imports, sign-in links) by the provider's own staff;
- a council's lead sees every event about the service users it commissions, and
  events about nobody in particular by the council's own staff.

Anyone else is refused with NotFound (the same answer as a missing page). Rows are
read-only here, as in the Django admin (``rooms.admin.AuditEventAdmin``) and the model.
Reading the viewer is itself audited (``audit.viewed`` / ``audit.exported``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rooms import audit
from rooms.bounds import BoundedDate, Id
from rooms.errors import NotFound
from rooms.models import AuditEvent, Person, Role

LOCAL_TZ = ZoneInfo("Europe/London")
LEAD_ROLES = {
    Role.PROVIDER_ADMIN: "provider",
    Role.CARE_MANAGER: "provider",
    Role.COUNCIL_ADMIN: "council",
    Role.COMMISSIONER: "council",
}
# Kinds a lead filters by: a name and the audit actions it covers (prefix match).
KINDS: dict[str, tuple[str, ...]] = {
    "reads": (
        "room.",
        "alert.read",
        "alert.context_read",
        "careplan.read",
        "careplan.history",
        "mar.read",
        "medicine.list",
        "members.read",
        "record_reads.read",
        "visit.list",
        "planned_visit.list",
        "dashboard.",
        "summary.",
        "export.",
    ),
    "membership": ("membership.", "family_basis.", "invitation."),
    "visits": ("planned_visit.", "visit.", "location_exception."),
    "changes": ("service_user.", "goal.", "careplan.", "retention.", "legal_hold."),
}
MAX_EXPORT = 50_000
CSV_HEADER = ["at", "actor", "actor_role", "actor_organisation", "action", "person", "target"]


class AuditFilter(BaseModel):
    """Query parameters of the viewer (page and API). Dates are local, both inclusive."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person: Id | None = None  # service user id
    actor: Id | None = None
    since: BoundedDate | None = None
    until: BoundedDate | None = None
    kind: str | None = Field(default=None, pattern=r"^(reads|membership|visits|changes)$")

    @model_validator(mode="after")
    def _order(self) -> AuditFilter:
        if self.since and self.until and self.until < self.since:
            raise ValueError("until must not be before since")
        return self


def require_lead(person: Person | None) -> str:
    """``"provider"`` or ``"council"`` for a data-protection lead; NotFound otherwise."""
    if person is None or person.organisation_id is None or person.role not in LEAD_ROLES:
        raise NotFound("Not found.")
    kind = LEAD_ROLES[Role(person.role)]
    if person.organisation is None or person.organisation.kind != kind:
        raise NotFound("Not found.")  # a role in the wrong kind of organisation
    return kind


def scoped(lead: Person) -> QuerySet[AuditEvent]:
    kind = require_lead(lead)
    org = lead.organisation_id
    if kind == "provider":
        about = Q(service_user__provider_id=org)
    else:
        about = Q(service_user__council_id=org)
    return AuditEvent.objects.filter(
        about | Q(service_user__isnull=True, actor__organisation_id=org)
    )


def events(lead: Person, f: AuditFilter) -> QuerySet[AuditEvent]:
    qs = scoped(lead)
    if f.person is not None:
        qs = qs.filter(service_user_id=f.person)
    if f.actor is not None:
        qs = qs.filter(actor_id=f.actor)
    if f.since is not None:
        qs = qs.filter(at__gte=dt.datetime.combine(f.since, dt.time(), tzinfo=LOCAL_TZ))
    if f.until is not None:
        end = dt.datetime.combine(f.until + dt.timedelta(days=1), dt.time(), tzinfo=LOCAL_TZ)
        qs = qs.filter(at__lt=end)
    if f.kind is not None:
        q = Q(pk__in=[])
        for prefix in KINDS[f.kind]:
            q |= Q(action__startswith=prefix)
        qs = qs.filter(q)
    return qs.select_related("actor", "actor__organisation", "service_user", "room").order_by(
        "-at", "-id"
    )


def event_wire(e: AuditEvent) -> dict:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "actor": e.actor_id,
        "actor_name": e.actor.display_name if e.actor else "system",
        "actor_role": e.actor.role if e.actor else "",
        "actor_organisation": e.actor.organisation.name if e.actor and e.actor.organisation else "",
        "action": e.action,
        "person": e.service_user_id,
        "person_name": e.service_user.full_name if e.service_user else "",
        "room": e.room.kind if e.room else "",
        "target": e.target,
    }


def view(lead: Person, f: AuditFilter, *, limit: int = 200) -> list[dict]:
    """The newest ``limit`` matching events (audited as ``audit.viewed``)."""
    rows = [event_wire(e) for e in events(lead, f)[:limit]]
    audit.record(lead, "audit.viewed", target=f"rows:{len(rows)}")
    return rows


def _csv_rows(rows: Iterable[dict]) -> Iterable[list[str]]:
    for r in rows:
        yield [
            r["at"],
            r["actor_name"],
            r["actor_role"],
            r["actor_organisation"],
            r["action"],
            r["person_name"],
            r["target"],
        ]


def _cell(v: str) -> str:
    # A cell a spreadsheet would run as a formula is quoted (CSV injection).
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def export_csv(lead: Person, f: AuditFilter) -> str:
    """All matching events (up to ``MAX_EXPORT``) as CSV text (audited as ``audit.exported``)."""
    rows = [event_wire(e) for e in events(lead, f)[:MAX_EXPORT]]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_HEADER)
    for r in _csv_rows(rows):
        w.writerow([_cell(c) for c in r])
    audit.record(lead, "audit.exported", target=f"rows:{len(rows)}")
    return buf.getvalue()


def filter_choices(lead: Person) -> dict:
    """People and actors that appear in the lead's scope (for the filter drop-downs)."""
    qs = scoped(lead)
    people = (
        qs.exclude(service_user__isnull=True)
        .values_list("service_user_id", "service_user__full_name")
        .distinct()
        .order_by("service_user__full_name")
    )
    actors = (
        qs.exclude(actor__isnull=True)
        .values_list("actor_id", "actor__display_name")
        .distinct()
        .order_by("actor__display_name")
    )
    return {"people": list(people)[:500], "actors": list(actors)[:500], "kinds": list(KINDS)}
