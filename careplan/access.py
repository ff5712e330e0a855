"""Who may read and change the visit record — built on ``rooms.access`` primitives.

``rooms`` must not import ``careplan`` (DESIGN.md §2), so these decisions live here, and
only here; each rule asks ``rooms.access`` for the facts (an active membership of the
person's team room, being the provider's care manager):

- **read** the care plan, medicines, tasks and MAR chart: the provider's care managers;
  care workers, nurses and physios/OTs who are active members of the person's team room;
  a council assessor allocated to the person (``rooms.access.assessor_allocated``; the
  reads are audited, so the provider sees them in the record-reads list) — read only;
- **change** the care plan and the medicines list: the provider's care managers and
  nurses in the team room (DESIGN.md §4: "only staff roles with the right to change the
  list");
- **record** task and dose outcomes: the visit's own care worker, still a member of the
  team room, while the visit is open or within ``RECORD_GRACE`` of its check-out (a phone
  that lost signal sends its outbox late);
- **correct** a recorded dose (a superseding record): the provider's care managers only;
- **payroll export** for a worker: the care managers of the worker's provider, and the
  worker themselves; **council export**: a provider's care managers, for a council that
  commissions the provider or has people in its care — only their own provider's people;
- everyone else — family, the service user, commissioners, other providers — gets the
  same ``NotFound`` body for every refusal, so nothing can be probed.
"""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

from bots.models import Visit
from careplan.models import MedicineRecord
from rooms.access import active_membership, assessor_allocated, is_provider_manager
from rooms.bounds import BIGINT_MAX
from rooms.errors import NotFound
from rooms.models import Organisation, Person, Role, Room, ServiceUser

NOT_FOUND = "Not found."
READ_ROLES = frozenset({Role.CARE_WORKER, Role.NURSE, Role.THERAPIST})
EDIT_ROLES = frozenset({Role.NURSE})
RECORD_GRACE = dt.timedelta(minutes=60)


def refuse() -> NoReturn:
    raise NotFound(NOT_FOUND)


def _id(value: int) -> int:
    """An id a bigint column can hold, else the refusal (a page's ``<int:...>`` is unbounded)."""
    if not isinstance(value, int) or not 1 <= value <= BIGINT_MAX:
        refuse()
    return value


def _team_member(person: Person, su: ServiceUser) -> bool:
    room = (
        Room.objects.select_related("service_user")
        .filter(service_user=su, kind=Room.Kind.PROFESSIONAL)
        .first()
    )
    return room is not None and active_membership(person, room) is not None


def can_read(person: Person | None, su: ServiceUser) -> bool:
    if person is None:
        return False
    if is_provider_manager(person, su) or assessor_allocated(person, su):
        return True
    return person.role in READ_ROLES and _team_member(person, su)


def can_edit(person: Person | None, su: ServiceUser) -> bool:
    if person is None:
        return False
    if is_provider_manager(person, su):
        return True
    return person.role in EDIT_ROLES and _team_member(person, su)


def access_record(person: Person | None, su_id: int, *, edit: bool = False) -> ServiceUser:
    """The service user whose care plan / medicines the person may read (``edit``: change)."""
    su = ServiceUser.objects.select_related("provider", "council").filter(pk=_id(su_id)).first()
    if su is None or not (can_edit(person, su) if edit else can_read(person, su)):
        refuse()
    return su


def access_visit(person: Person | None, visit_id: int) -> Visit:
    """A visit whose tasks and doses the person may read."""
    visit = Visit.objects.select_related("service_user", "worker").filter(pk=_id(visit_id)).first()
    if visit is None or not can_read(person, visit.service_user):
        refuse()
    return visit


def access_dose_for_correction(person: Person | None, record_id: int) -> MedicineRecord:
    """A dose record a care manager of the person's provider may correct."""
    record = (
        MedicineRecord.objects.select_related("medicine__service_user__provider")
        .filter(pk=_id(record_id))
        .first()
    )
    if record is None or not can_correct(person, record.medicine.service_user):
        refuse()
    return record


def can_correct(person: Person | None, su: ServiceUser) -> bool:
    return (
        person is not None and person.role == Role.CARE_MANAGER and is_provider_manager(person, su)
    )


def may_record(person: Person, visit: Visit, now: dt.datetime) -> bool:
    if person.role != Role.CARE_WORKER or visit.worker_id != person.id:
        return False
    if visit.checked_out_at is not None and now - visit.checked_out_at > RECORD_GRACE:
        return False
    return _team_member(person, visit.service_user)


def access_visit_for_recording(person: Person | None, visit_id: int, now: dt.datetime) -> Visit:
    """The visit whose outcomes this care worker may record now."""
    visit = Visit.objects.select_related("service_user", "worker").filter(pk=_id(visit_id)).first()
    if visit is None or person is None or not may_record(person, visit, now):
        refuse()
    return visit


def access_payroll(person: Person | None, worker_id: int) -> Person:
    """A care worker whose pay-period export the person may download."""
    worker = (
        Person.objects.select_related("organisation")
        .filter(pk=_id(worker_id), role=Role.CARE_WORKER)
        .first()
    )
    if worker is None or person is None:
        refuse()
    if person.id == worker.id:
        return worker
    if (
        person.role == Role.CARE_MANAGER
        and person.organisation_id is not None
        and person.organisation_id == worker.organisation_id
    ):
        return worker
    refuse()


def payroll_workers(person: Person) -> list[Person]:
    """The workers whose exports the person may download (for the downloads page)."""
    if person.role == Role.CARE_MANAGER and person.organisation_id is not None:
        return list(
            Person.objects.filter(
                role=Role.CARE_WORKER, organisation_id=person.organisation_id
            ).order_by("display_name")
        )
    return [person] if person.role == Role.CARE_WORKER else []


def export_councils(person: Person) -> list[Organisation]:
    """Councils a provider's care manager hands hours to: the provider's commissioner and
    every council with people in the provider's care."""
    if person.role != Role.CARE_MANAGER or person.organisation_id is None:
        return []
    provider = person.organisation
    if provider is None or provider.kind != Organisation.Kind.PROVIDER:
        return []
    ids = set(ServiceUser.objects.filter(provider=provider).values_list("council_id", flat=True))
    if provider.commissioned_by_id:
        ids.add(provider.commissioned_by_id)
    return list(
        Organisation.objects.filter(pk__in=ids, kind=Organisation.Kind.COUNCIL).order_by("name")
    )


def access_council_export(
    person: Person | None, council_id: int
) -> tuple[Organisation, Organisation]:
    """``(provider, council)`` for a council export by the provider's care manager."""
    if person is None:
        refuse()
    council = next((c for c in export_councils(person) if c.pk == council_id), None)
    if council is None:
        refuse()
    return person.organisation, council
