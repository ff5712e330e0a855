"""Who may see which dashboard, and how much of it (DESIGN.md §4, dashboards column).

``authorise`` is the one decision point for every dashboard page, JSON poll and CSV
export; it is built on ``rooms.access`` primitives (membership, provider manager, family
basis) so room rules and dashboard rules cannot drift apart. Not visible -> ``NotFound``
(ids cannot be probed); visible but not this view -> ``Forbidden``.

Levels of the service-user dashboard (docs/dashboards.md):
- ``full``: the provider's care managers; nurses and therapists who are members of the
  person's rooms — every section and the printable re-assessment summary;
- ``own``: the service user themselves — everything except the alert list (alerts can be
  safeguarding concerns about people close to them; they see the count);
- ``worker``: an assigned care worker — their own visits only (log, punctuality);
- ``family``: a family member in the family room while the person's *consent* (or a
  lasting power of attorney) is recorded — visits and who came, care experience and
  personal goals; no health or social-care-needs scores, no alerts, no summary. A
  best-interests basis lets them chat, not see the dashboard.
- ``assessor``: a council assessor while allocated to the person
  (``rooms.access.assessor_allocated``) — every section and the summary, read-only; no
  rooms (the pages link to none they could open).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rooms.access import active_membership, assessor_allocated, is_provider_manager
from rooms.errors import Forbidden, NotFound
from rooms.models import FamilyBasis, Organisation, Person, Role, Room, ServiceUser
from web.dashboards.queries import DOMAINS, Scope


class Dashboard(StrEnum):
    SERVICE_USER = "service_user"
    SUMMARY = "summary"
    PROVIDER = "provider"
    COUNCIL = "council"


class Level(StrEnum):
    FULL = "full"
    OWN = "own"
    WORKER = "worker"
    FAMILY = "family"
    PROVIDER = "provider"
    COUNCIL = "council"
    ASSESSOR = "assessor"


# What each level of the service-user dashboard shows.
SECTIONS: dict[str, frozenset[str]] = {
    Level.FULL: frozenset(
        {"visits", "visit_log", "domains", "goals", "alerts", "alert_list", "summary"}
    ),
    Level.OWN: frozenset({"visits", "visit_log", "domains", "goals", "alerts"}),
    Level.WORKER: frozenset({"visits", "visit_log"}),
    Level.FAMILY: frozenset({"visits", "visit_log", "domains", "goals"}),
    Level.ASSESSOR: frozenset(
        {"visits", "visit_log", "domains", "goals", "alerts", "alert_list", "summary"}
    ),
}
FAMILY_DOMAINS = ["care_experience", "personal_goals"]
FAMILY_DASHBOARD_BASES = frozenset({FamilyBasis.Basis.CONSENT, FamilyBasis.Basis.LPA})


@dataclass(frozen=True)
class Grant:
    dashboard: Dashboard
    level: Level
    scope: Scope
    service_user: ServiceUser | None = None
    organisation: Organisation | None = None
    sections: frozenset[str] = field(default_factory=frozenset)

    @property
    def domains(self) -> list[str]:
        return FAMILY_DOMAINS if self.level == Level.FAMILY else DOMAINS

    def shows(self, section: str) -> bool:
        return section in self.sections

    @property
    def audit_target(self) -> str:
        if self.dashboard == Dashboard.COUNCIL:
            return f"dashboard:council:{self.organisation.pk}"
        if self.dashboard == Dashboard.PROVIDER:
            return f"dashboard:provider:{self.organisation.pk}"
        return f"dashboard:{self.dashboard}:{self.service_user.pk}:{self.level}"


def _service_user_level(person: Person, su: ServiceUser) -> Level | None:
    if person.role == Role.SERVICE_USER:
        return Level.OWN if su.person_id == person.id else None
    if person.role == Role.ASSESSOR:
        return Level.ASSESSOR if assessor_allocated(person, su) else None
    if is_provider_manager(person, su):
        return Level.FULL
    rooms = list(Room.objects.select_related("service_user").filter(service_user=su))
    member = [r for r in rooms if active_membership(person, r) is not None]
    if not member:
        return None
    if person.role in (Role.NURSE, Role.THERAPIST):
        return Level.FULL
    if person.role == Role.CARE_WORKER:
        return Level.WORKER
    # active_membership already required an unrevoked basis; the dashboard needs consent.
    if (
        person.role == Role.FAMILY
        and FamilyBasis.objects.filter(
            service_user=su,
            person=person,
            revoked_at__isnull=True,
            basis__in=FAMILY_DASHBOARD_BASES,
        ).exists()
    ):
        return Level.FAMILY
    return None


def authorise(
    person: Person | None,
    dashboard: Dashboard,
    *,
    service_user_id: int | None = None,
    provider_id: int | None = None,
) -> Grant:
    """Decide ``person``'s access to ``dashboard``; raises NotFound / Forbidden.

    ``service_user_id`` names the person for the service-user dashboard and summary;
    ``provider_id`` narrows a council dashboard to one of the council's providers.
    """
    if person is None:
        raise NotFound("No such dashboard.")
    if dashboard in (Dashboard.SERVICE_USER, Dashboard.SUMMARY):
        su = ServiceUser.objects.select_related("provider").filter(pk=service_user_id).first()
        level = _service_user_level(person, su) if su is not None else None
        if level is None:
            raise NotFound("No such person.")
        if dashboard == Dashboard.SUMMARY and "summary" not in SECTIONS[level]:
            raise Forbidden("The re-assessment summary is for the care team.")
        worker = person.id if level == Level.WORKER else None
        return Grant(
            dashboard,
            level,
            Scope(service_user_id=su.pk, worker_id=worker),
            service_user=su,
            sections=SECTIONS[level],
        )
    org = person.organisation
    if dashboard == Dashboard.PROVIDER:
        if (
            person.role != Role.CARE_MANAGER
            or org is None
            or org.kind != Organisation.Kind.PROVIDER
            or provider_id not in (None, org.pk)
        ):
            raise NotFound("No such dashboard.")
        return Grant(dashboard, Level.PROVIDER, Scope(provider_id=org.pk), organisation=org)
    if dashboard == Dashboard.COUNCIL:
        if person.role != Role.COMMISSIONER or org is None or org.kind != Organisation.Kind.COUNCIL:
            raise NotFound("No such dashboard.")
        if (
            provider_id is not None
            and not Organisation.objects.filter(
                pk=provider_id, kind=Organisation.Kind.PROVIDER, commissioned_by=org
            ).exists()
        ):
            raise NotFound("No such provider.")
        return Grant(
            dashboard,
            Level.COUNCIL,
            Scope(council_id=org.pk, provider_id=provider_id),
            organisation=org,
        )
    raise NotFound("No such dashboard.")
