"""Who may do what — decided here and nowhere else (DESIGN.md §3.7, §4).

Every read, send, subscribe, fan-out and membership change calls these functions. The
rules are data (``ROOM_ROLES``) plus three facts from the database: an active
membership, the person's role, and for family members their own unrevoked lawful basis.
Who may *become* a member is :func:`may_join` (the tenancy rule, docs/security.md).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from cocare_chat import clock
from rooms.errors import Forbidden, NotFound
from rooms.models import (
    AssessorAllocation,
    FamilyBasis,
    Membership,
    Organisation,
    Person,
    Role,
    Room,
    ServiceUser,
)


class Action(StrEnum):
    READ = "read"  # read history
    SUBSCRIBE = "subscribe"  # live delivery
    POST = "post"
    MANAGE = "manage"  # add / remove members


# Which roles may hold a membership in each kind of room (DESIGN.md §4).
ROOM_ROLES: dict[str, frozenset[str]] = {
    Room.Kind.PROFESSIONAL: frozenset(
        {Role.CARE_WORKER, Role.NURSE, Role.THERAPIST, Role.CARE_MANAGER, Role.BOT}
    ),
    Room.Kind.FAMILY: frozenset(
        {Role.CARE_WORKER, Role.CARE_MANAGER, Role.FAMILY, Role.SERVICE_USER, Role.BOT}
    ),
}

# Roles that see a service user's key information (access notes can hold a key-safe code).
KEY_INFO_ROLES = frozenset(
    {Role.CARE_WORKER, Role.NURSE, Role.THERAPIST, Role.CARE_MANAGER, Role.BOT}
)


# Roles that join a room as staff: of the service user's provider (``organisation``).
STAFF_ROLES = frozenset({Role.CARE_WORKER, Role.NURSE, Role.THERAPIST, Role.CARE_MANAGER, Role.BOT})
# Clinicians who may instead belong to a health organisation partnered with the provider
# (the NHS district nurse or community physio; ``Organisation.partner_providers``).
PARTNER_CLINICIAN_ROLES = frozenset({Role.NURSE, Role.THERAPIST})


def role_allowed(role: str, room_kind: str) -> bool:
    return role in ROOM_ROLES[room_kind]


def family_basis_active(service_user_id: int) -> bool:
    """Whether any family member of this service user has an active lawful basis (the
    bots' family notices are worth posting). Access itself is :func:`member_basis_active`."""
    return FamilyBasis.objects.filter(
        service_user_id=service_user_id, revoked_at__isnull=True
    ).exists()


def member_basis_active(service_user_id: int, person_id: int) -> bool:
    """Whether this family member has their own unrevoked lawful basis for this person."""
    return FamilyBasis.objects.filter(
        service_user_id=service_user_id, person_id=person_id, revoked_at__isnull=True
    ).exists()


def grants(role: str, room_kind: str, *, is_own_service_user: bool, basis_active: bool) -> bool:
    """The rule for an active membership, as a pure function of the facts it needs."""
    if not role_allowed(role, room_kind):
        return False
    if role == Role.SERVICE_USER and not is_own_service_user:
        return False
    return not (role == Role.FAMILY and not basis_active)


def join_allowed(
    role: str,
    room_kind: str,
    *,
    provider_staff: bool,
    partner_clinician: bool,
    own_service_user: bool,
    family_link: bool,
    basis_active: bool,
) -> bool:
    """The tenancy rule for becoming a member, as a pure function of the facts it needs.

    Staff of the room's provider (or a partner health organisation's nurse/therapist, team
    room only); the service user themselves; family linked to this service user while a
    lawful basis is recorded. Nobody else — whatever role or organisation.
    """
    if not role_allowed(role, room_kind):
        return False
    if role in STAFF_ROLES:
        return provider_staff or (role in PARTNER_CLINICIAN_ROLES and partner_clinician)
    if role == Role.SERVICE_USER:
        return own_service_user
    if role == Role.FAMILY:
        return family_link and basis_active
    return False


def may_join(person: Person, room: Room, *, invited_for: int | None = None) -> bool:
    """Whether ``person`` may be made a member of ``room`` (every path that adds members).

    A family member is linked to a service user by having held a membership of that
    person's family room (only an invitation creates the first one) or, while redeeming,
    by the invitation itself: ``invited_for`` is the invitation's service user id, passed
    only by ``web.invitations.redeem_invitation`` after it checked the token.
    """
    su = room.service_user
    org_id = person.organisation_id
    provider_staff = org_id is not None and org_id == su.provider_id
    partner = (
        person.role in PARTNER_CLINICIAN_ROLES
        and not provider_staff
        and org_id is not None
        and Organisation.partner_providers.through.objects.filter(
            from_organisation_id=org_id,
            from_organisation__kind=Organisation.Kind.HEALTH,
            to_organisation_id=su.provider_id,
        ).exists()
    )
    family_link = person.role == Role.FAMILY and (
        invited_for == su.id
        or Membership.objects.filter(
            person=person, room__service_user_id=su.id, room__kind=Room.Kind.FAMILY
        ).exists()
    )
    return join_allowed(
        person.role,
        room.kind,
        provider_staff=provider_staff,
        partner_clinician=partner,
        own_service_user=su.person_id is not None and su.person_id == person.id,
        family_link=family_link,
        basis_active=person.role == Role.FAMILY and member_basis_active(su.id, person.id),
    )


def active_membership(person: Person, room: Room) -> Membership | None:
    """The person's membership if it currently grants access, else None."""
    if not role_allowed(person.role, room.kind):
        return None
    m = Membership.objects.filter(room=room, person=person, removed_at__isnull=True).first()
    if m is None:
        return None
    ok = grants(
        person.role,
        room.kind,
        is_own_service_user=room.service_user.person_id == person.id,
        basis_active=person.role != Role.FAMILY
        or member_basis_active(room.service_user_id, person.id),
    )
    return m if ok else None


def allowed_pairs(pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which ``(person_id, room_id)`` pairs may read/subscribe now — in two queries.

    The same rule as :func:`active_membership`, decided for many sockets at once (the
    per-process access watch in ``rooms.socket``).
    """
    if not pairs:
        return set()
    people = {p for p, _ in pairs}
    rooms = {r for _, r in pairs}
    rows = Membership.objects.filter(
        person_id__in=people, room_id__in=rooms, removed_at__isnull=True
    ).values_list(
        "person_id",
        "room_id",
        "person__role",
        "room__kind",
        "room__service_user_id",
        "room__service_user__person_id",
    )
    rows = [r for r in rows if (r[0], r[1]) in pairs]
    family = [r for r in rows if r[2] == Role.FAMILY]
    with_basis = (
        set(
            FamilyBasis.objects.filter(
                service_user_id__in={r[4] for r in family},
                person_id__in={r[0] for r in family},
                revoked_at__isnull=True,
            ).values_list("service_user_id", "person_id")
        )
        if family
        else set()
    )
    return {
        (pid, rid)
        for pid, rid, role, kind, su_id, su_person in rows
        if grants(
            role,
            kind,
            is_own_service_user=su_person == pid,
            basis_active=(su_id, pid) in with_basis,
        )
    }


def is_provider_manager(person: Person, service_user: ServiceUser) -> bool:
    return person.role == Role.CARE_MANAGER and person.organisation_id == service_user.provider_id


def allowed(person: Person | None, room: Room, action: Action) -> bool:
    if person is None:
        return False
    m = active_membership(person, room)
    if m is None:
        return False
    if action == Action.MANAGE:
        return is_provider_manager(person, room.service_user)
    return True


# A person's entry in a room of an archived service user (the record stays, read-only).
ARCHIVED = "This person's care has ended: their rooms are read-only."


def access_room(person: Person | None, room_id: int, action: Action) -> tuple[Room, Membership]:
    """Fetch a room and authorise ``action`` on it; raises NotFound (one text) otherwise.

    A room that exists but is not visible, or visible but not manageable by this person,
    answers exactly like a missing one, so room ids and rights cannot be probed.
    """
    room = Room.objects.select_related("service_user").filter(pk=room_id).first()
    if room is None or person is None:
        raise NotFound("No such room.")
    m = active_membership(person, room)
    if m is None:
        raise NotFound("No such room.")
    if action == Action.MANAGE and not is_provider_manager(person, room.service_user):
        raise NotFound("No such room.")
    if action == Action.POST and room.service_user.archived_at is not None:
        # Care ended (rooms.network.do_archive_service_user): the record is kept, read-only
        # for people — messages, attachments and answers alike.
        raise Forbidden(ARCHIVED, code="archived")
    return room, m


def _sql_list(values: frozenset[str]) -> str:
    # Role and kind names are fixed identifiers of this module (ROOM_ROLES), never input.
    return ", ".join(f"'{v}'" for v in sorted(values))


def _post_grant_sql() -> str:
    """:func:`access_room` for ``Action.POST`` as one SQL query (written from ``ROOM_ROLES``
    and :func:`grants`, so the rule table stays the one source).

    Parameters ``[person_id, room_id]``; yields one row ``(room id, room kind)`` exactly
    when the person may post in the room now: an active membership, a role the room's kind
    admits, a service user only in their own rooms, a family member only with their own
    unrevoked lawful basis, and the service user not archived. Refusals yield no row — the
    caller then asks :func:`access_room` which error to give (tests/test_access_post_sql.py
    proves the two agree).
    """
    kind_role = " OR ".join(
        f"(r.kind = '{kind}' AND p.role IN ({_sql_list(roles)}))"
        for kind, roles in sorted(ROOM_ROLES.items())
    )
    # Built only from table names and this module's role/kind names; values are parameters.
    return f"""
SELECT r.id, r.kind FROM {Room._meta.db_table} r
JOIN {Membership._meta.db_table} m ON m.room_id = r.id
JOIN {Person._meta.db_table} p ON p.id = m.person_id
JOIN {ServiceUser._meta.db_table} su ON su.id = r.service_user_id
WHERE m.person_id = %s AND r.id = %s AND m.removed_at IS NULL AND su.archived_at IS NULL
  AND ({kind_role})
  AND (p.role <> '{Role.SERVICE_USER}' OR su.person_id = p.id)
  AND (p.role <> '{Role.FAMILY}' OR EXISTS (
    SELECT 1 FROM {FamilyBasis._meta.db_table} b
    WHERE b.service_user_id = su.id AND b.person_id = p.id AND b.revoked_at IS NULL))
"""  # noqa: S608


# Built once at import: the hot path (every post) only formats parameters into it.
POST_GRANT_SQL = _post_grant_sql()


def may_post(person_id: int, room_id: int) -> str | None:
    """The room's kind if ``person_id`` may post in ``room_id`` now, else None — one
    query, :data:`POST_GRANT_SQL` (``rooms.messages`` runs the same rule inside its
    insert on PostgreSQL)."""
    with connection.cursor() as cur:
        cur.execute(POST_GRANT_SQL, [person_id, room_id])
        row = cur.fetchone()
    return None if row is None else row[1]


def visible_rooms(person: Person) -> QuerySet[Room]:
    """Rooms the person may read, in one query."""
    qs = Room.objects.filter(
        memberships__person=person, memberships__removed_at__isnull=True
    ).select_related("service_user")
    kinds = [k for k, roles in ROOM_ROLES.items() if person.role in roles]
    qs = qs.filter(kind__in=kinds)
    if person.role == Role.SERVICE_USER:
        qs = qs.filter(service_user__person=person)
    if person.role == Role.FAMILY:
        qs = qs.filter(
            Exists(
                FamilyBasis.objects.filter(
                    service_user=OuterRef("service_user"), person=person, revoked_at__isnull=True
                )
            )
        )
    return qs.distinct()


def access_service_user(person: Person | None, service_user_id: int) -> ServiceUser:
    """Fetch a service user whose key information the person may see."""
    su = ServiceUser.objects.filter(pk=service_user_id).first()
    if su is None or person is None:
        raise NotFound("No such person.")
    if person.role == Role.SERVICE_USER and su.person_id == person.id:
        return su
    if person.role not in KEY_INFO_ROLES:
        raise NotFound("No such person.")
    if is_provider_manager(person, su):
        return su
    if not Membership.objects.filter(
        Q(room__service_user=su), person=person, removed_at__isnull=True
    ).exists():
        raise NotFound("No such person.")
    return su


def may_write_goals(person: Person | None, su: ServiceUser) -> bool:
    """Who writes a person's goals and "what matters to me": the provider's care manager,
    the person themselves, or a family member with access (their own basis) whom the
    person agreed may (``Membership.may_write_goals``)."""
    if person is None:
        return False
    if is_provider_manager(person, su):
        return True
    if person.role == Role.SERVICE_USER:
        return su.person_id == person.id
    if person.role != Role.FAMILY:
        return False
    room = Room.objects.select_related("service_user").filter(
        service_user=su, kind=Room.Kind.FAMILY
    )
    m = active_membership(person, room.get()) if room.exists() else None
    return m is not None and m.may_write_goals


def access_goals(person: Person | None, service_user_id: int, *, write: bool = False):
    """A service user whose goals ``person`` may read (``write``: also write); the one
    NotFound otherwise. Readers: those who see key information, and goal writers."""
    su = ServiceUser.objects.filter(pk=service_user_id).first()
    if su is None or person is None:
        raise NotFound("No such person.")
    if may_write_goals(person, su):
        return su
    if write:
        raise NotFound("No such person.")
    return access_service_user(person, service_user_id)


def visible_from_seq(membership: Membership) -> int:
    return membership.visible_from_seq


def managed_service_users(person: Person | None) -> QuerySet[ServiceUser]:
    """Service users whose provider this person manages (``is_provider_manager`` as a query)."""
    if person is None or person.role != Role.CARE_MANAGER or person.organisation_id is None:
        return ServiceUser.objects.none()
    return ServiceUser.objects.filter(provider_id=person.organisation_id)


def access_provider_member(manager: Person | None, person_id: int) -> Person:
    """A person (not a bot) with an active membership in a room of ``manager``'s provider,
    if ``manager`` is a care manager; NotFound otherwise, one answer whatever the reason.

    Who a care manager may act for outside a room (e.g. link their Matrix account).
    """
    sus = managed_service_users(manager)
    found = (
        Person.objects.filter(
            pk=person_id,
            memberships__removed_at__isnull=True,
            memberships__room__service_user__in=sus,
        )
        .exclude(role=Role.BOT)
        .distinct()
        .first()
    )
    if found is None:
        raise NotFound("No such person.")
    return found


# ---- council assessors (allocated cases only) ------------------------------------------
#
# A council assessor reads an allocated person's record — dashboard, re-assessment summary,
# goals, visits, escalated-alert context, and (careplan) care plan, tasks and medicines
# history — and never their rooms: ``ROOM_ROLES`` has no assessor, so every room check
# above refuses them. Other packages ask :func:`assessor_allocated` (or the query
# :func:`allocated_service_users`) and nothing else.


def _local_today(now: dt.datetime | None) -> dt.date:
    return timezone.localdate(now or clock.now())


def assessor_allocated(
    person: Person | None, service_user: ServiceUser, now: dt.datetime | None = None
) -> bool:
    """True while ``person`` is a council assessor allocated to ``service_user``.

    All of: the assessor role; the person's organisation is the service user's council
    (checked at every read, so an assessor who moves council loses access at once); an
    allocation whose local dates cover today (both ends inclusive).
    """
    if person is None or person.role != Role.ASSESSOR or person.organisation_id is None:
        return False
    if person.organisation_id != service_user.council_id:
        return False
    return _current_allocations(person, now).filter(service_user=service_user).exists()


def allocated_service_users(
    person: Person | None, now: dt.datetime | None = None
) -> QuerySet[ServiceUser]:
    """:func:`assessor_allocated` as a query: the people this assessor may read today."""
    if person is None or person.role != Role.ASSESSOR or person.organisation_id is None:
        return ServiceUser.objects.none()
    return ServiceUser.objects.filter(
        council_id=person.organisation_id,
        pk__in=_current_allocations(person, now).values("service_user_id"),
    )


def _current_allocations(person: Person, now: dt.datetime | None) -> QuerySet:
    today = _local_today(now)
    return AssessorAllocation.objects.filter(
        Q(ends_on__isnull=True) | Q(ends_on__gte=today), assessor=person, starts_on__lte=today
    )


def access_assessed_record(
    person: Person | None, service_user_id: int, now: dt.datetime | None = None
) -> ServiceUser:
    """Fetch a service user whose record this assessor may read; NotFound otherwise
    (the same answer for a person who does not exist, another council's, or after the
    allocation ended). The caller audits the read (``rooms.audit.record``)."""
    su = ServiceUser.objects.filter(pk=service_user_id).first()
    if su is None or not assessor_allocated(person, su, now):
        raise NotFound("No such person.")
    return su


def access_record_reads(person: Person | None, service_user_id: int) -> ServiceUser:
    """Who read this person's record: for the provider's care managers only."""
    su = ServiceUser.objects.filter(pk=service_user_id).first()
    if su is None or person is None or not is_provider_manager(person, su):
        raise NotFound("No such person.")
    return su


# ---- organisation administrators (docs/decisions.md "Administrators") -------------------
#
# A provider administrator runs their provider's staff and service users; a council
# administrator runs their council's staff. Neither is in any room (``ROOM_ROLES`` has no
# administrator, so every room check above refuses them). Each acts only inside their own
# organisation, and every refusal of a person or service user outside it is the same
# NotFound as one that does not exist.

ADMIN_ORG_KIND: dict[str, str] = {
    Role.PROVIDER_ADMIN: Organisation.Kind.PROVIDER,
    Role.COUNCIL_ADMIN: Organisation.Kind.COUNCIL,
}
# Roles an administrator may invite staff with, or change a member of staff to. Care
# managers invite nobody: staff accounts are the administrator's (docs/decisions.md).
GRANTABLE: dict[str, frozenset[str]] = {
    Role.PROVIDER_ADMIN: frozenset(
        {Role.PROVIDER_ADMIN, Role.CARE_MANAGER, Role.CARE_WORKER, Role.NURSE, Role.THERAPIST}
    ),
    Role.COUNCIL_ADMIN: frozenset({Role.COUNCIL_ADMIN, Role.COMMISSIONER, Role.ASSESSOR}),
}
# Who creates, edits and archives a provider's service users.
SERVICE_USER_SETUP_ROLES = frozenset({Role.PROVIDER_ADMIN, Role.CARE_MANAGER})
STAFF_GONE = "No such person."


def _org_kind(person: Person) -> str | None:
    if person.organisation_id is None:
        return None
    return (
        Organisation.objects.filter(pk=person.organisation_id)
        .values_list("kind", flat=True)
        .first()
    )


def is_org_admin(person: Person | None) -> bool:
    """An administrator whose organisation is of the kind their role administers."""
    if person is None or person.role not in ADMIN_ORG_KIND:
        return False
    return _org_kind(person) == ADMIN_ORG_KIND[person.role]


def grantable_roles(person: Person | None) -> frozenset[str]:
    """The roles ``person`` may grant; empty for anyone who is not an administrator."""
    if not is_org_admin(person):
        return frozenset()
    assert person is not None
    return GRANTABLE[person.role]


def staff_of(admin: Person | None) -> QuerySet[Person]:
    """Staff the administrator manages: people of their organisation in a grantable role."""
    roles = grantable_roles(admin)
    if not roles or admin is None:
        return Person.objects.none()
    return Person.objects.filter(organisation_id=admin.organisation_id, role__in=roles)


def access_staff(admin: Person | None, person_id: int) -> Person:
    """A member of the administrator's staff (with an account); NotFound otherwise, one
    answer whether the person does not exist, has no account, or is someone else's."""
    found = staff_of(admin).filter(pk=person_id, user__isnull=False).select_related("user").first()
    if found is None:
        raise NotFound(STAFF_GONE)
    return found


def sets_up_service_users(person: Person | None) -> bool:
    """A provider administrator or care manager, of a provider."""
    if person is None or person.role not in SERVICE_USER_SETUP_ROLES:
        return False
    return _org_kind(person) == Organisation.Kind.PROVIDER


def setup_service_users(person: Person | None) -> QuerySet[ServiceUser]:
    """The service users whose details this person may create, edit and archive."""
    if not sets_up_service_users(person):
        return ServiceUser.objects.none()
    assert person is not None
    return ServiceUser.objects.filter(provider_id=person.organisation_id)


def access_setup_service_user(person: Person | None, service_user_id: int) -> ServiceUser:
    """A service user of the person's provider, for set-up; NotFound otherwise."""
    su = setup_service_users(person).filter(pk=service_user_id).first()
    if su is None:
        raise NotFound("No such person.")
    return su
