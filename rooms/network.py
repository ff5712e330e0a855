"""Actions on care networks: service users, their two rooms, members and family basis.

``do_*`` mutate; ``check_*`` authorise then call ``do_*``. Each runs in one transaction;
live effects (access changes, notices) are published on commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction

from cocare_chat import clock
from rooms import audit, publish
from rooms.access import Action, access_room, family_basis_active, may_join, role_allowed
from rooms.errors import Conflict, Invalid, NotFound
from rooms.messages import post_message
from rooms.models import FamilyBasis, Membership, Organisation, Person, Role, Room, ServiceUser

SYSTEM_NAME = "CoCare"
SYSTEM_KEY = "system"
# Every refusal of an add/remove-member request reads the same, whatever the reason
# (unknown room or person, no right to manage, another tenant, wrong role, no basis):
# ids and roles cannot be probed (docs/security.md "Adding members").
MEMBER_REFUSED = "No such room or person."


def keyed_participant(
    key: str, *, display_name: str, organisation: Organisation | None = None
) -> Person:
    """The bot participant with this ``system_key``, created on first use.

    Idempotent on ``Person.system_key`` (unique): when two processes race on first use,
    one insert wins and the other reads that row (``get_or_create`` retries the read after
    the unique violation), so there is always exactly one.
    """
    person, _ = Person.objects.get_or_create(
        system_key=key,
        defaults={
            "role": Role.BOT,
            "display_name": display_name,
            "user": None,
            "organisation": organisation,
        },
    )
    return person


def system_person() -> Person:
    """The sender of system notices (a bot participant with no login); one row, ever."""
    return keyed_participant(SYSTEM_KEY, display_name=SYSTEM_NAME)


def notice(room: Room, text: str, event: str, now: dt.datetime, **data) -> None:
    post_message(
        room=room,
        sender=system_person(),
        kind="system",
        body=text,
        payload={"event": event, "data": data},
        now=now,
    )


def do_create_service_user(
    *,
    full_name: str,
    provider: Organisation,
    council: Organisation,
    created_by: Person | None = None,
    now: dt.datetime | None = None,
    members: Iterable[Person] = (),
    **fields,
) -> ServiceUser:
    """Create a service user with both rooms, atomically (one_room_per_kind holds).

    ``members`` (the provider's visit bot, the care managers chosen) join every room their
    role allows, in the same transaction, without notices: all of it or nothing.
    Audited as ``service_user.create``.
    """
    if provider.kind != Organisation.Kind.PROVIDER:
        raise Invalid("provider must be a care provider organisation.")
    if council.kind != Organisation.Kind.COUNCIL:
        raise Invalid("council must be a council organisation.")
    now = now or clock.now()
    with transaction.atomic():
        su = ServiceUser.objects.create(
            full_name=full_name,
            provider=provider,
            council=council,
            created_at=now,
            key_info_updated_at=now,
            **fields,
        )
        rooms = [
            Room.objects.create(service_user=su, kind=kind, created_at=now)
            for kind in (Room.Kind.PROFESSIONAL, Room.Kind.FAMILY)
        ]
        audit.record(created_by, "service_user.create", service_user=su, now=now)
        for person in members:
            for room in rooms:
                if role_allowed(person.role, room.kind):
                    if not may_join(person, room):
                        raise Invalid(f"{person.display_name} cannot join this care network.")
                    do_add_member(room, person, by=created_by, now=now, notify=False)
    return su


def do_archive_service_user(
    su: ServiceUser, *, by: Person | None, now: dt.datetime | None = None
) -> bool:
    """End a person's care: both rooms become read-only (``access_room`` refuses a POST
    with ``rooms.access.ARCHIVED``) and the retention clock starts at ``archived_at``.

    Idempotent: compare-and-set on ``archived_at IS NULL``; returns False and writes
    nothing when already archived. Audited as ``service_user.archive``; a system notice
    in each room says the care has ended, and every member's sockets re-check on commit.
    """
    now = now or clock.now()
    with transaction.atomic():
        if not ServiceUser.objects.filter(pk=su.pk, archived_at__isnull=True).update(
            archived_at=now
        ):
            return False
        su.archived_at = now
        audit.record(by, "service_user.archive", service_user=su, now=now)
        for room in Room.objects.filter(service_user=su):
            notice(room, "Care has ended; this room is now read-only.", "care.ended", now)
    return True


def do_link_own_account(
    su: ServiceUser, person: Person, *, by: Person | None, now: dt.datetime | None = None
) -> None:
    """Give the service user their own account: ``su.person`` is set (compare-and-set on
    it being empty) and the person joins the family room. Raises Conflict when an account
    is already linked; nothing is written then."""
    if person.role != Role.SERVICE_USER:
        raise Invalid("Only a service user's account can be linked to them.")
    now = now or clock.now()
    with transaction.atomic():
        if not ServiceUser.objects.filter(pk=su.pk, person__isnull=True).update(person=person):
            raise Conflict("This person already has their own account.")
        su.person = person
        audit.record(by, "service_user.own_account", service_user=su, now=now)
        room = Room.objects.select_related("service_user").get(
            service_user=su, kind=Room.Kind.FAMILY
        )
        do_add_member(room, person, by=by, now=now)


KEY_INFO_FIELDS = frozenset({"preferences", "what_matters", "communication_needs", "access_notes"})
# Who the person is, where they are cared for and by whom are fixed at creation.
FIXED_FIELDS = frozenset(
    {"id", "provider", "council", "person", "created_at", "key_info_updated_at"}
)


def do_update_service_user(
    su: ServiceUser, *, by: Person | None = None, now: dt.datetime | None = None, **fields
) -> ServiceUser:
    """Change a service user's details (key information, home, preferences).

    Provider, council and own account cannot change here (they decide access). A change
    to key information moves ``key_info_updated_at`` (the bot tells the next visit).
    Audited with the changed field names only, never their content.
    """
    known = {f.name for f in ServiceUser._meta.concrete_fields}
    bad = sorted((set(fields) & FIXED_FIELDS) | (set(fields) - known))
    if bad:
        raise Invalid(f"{', '.join(bad)} cannot be changed.")
    now = now or clock.now()
    changed = sorted(f for f, v in fields.items() if getattr(su, f) != v)
    if not changed:
        return su
    with transaction.atomic():
        for f in changed:
            setattr(su, f, fields[f])
        if KEY_INFO_FIELDS & set(changed):
            su.key_info_updated_at = now
        su.save()
        audit.record(
            by,
            "service_user.update",
            service_user=su,
            target=f"fields:{','.join(changed)}"[:100],
            now=now,
        )
    return su


def do_add_member(
    room: Room,
    person: Person,
    *,
    by: Person | None = None,
    now: dt.datetime | None = None,
    notify: bool = True,
) -> Membership:
    """Add (or re-add) a member. Idempotent on (room, person): an active member is kept.

    Structural checks only (the role fits the room, the service user is themselves, a
    family basis is recorded); who may add whom is ``check_add_member`` / ``may_join``.
    """
    if not role_allowed(person.role, room.kind):
        raise Invalid(f"A {person.get_role_display()} cannot join the {room.kind} room.")
    if person.role == Role.SERVICE_USER and room.service_user.person_id != person.id:
        raise Invalid("Only the service user themselves can join as service user.")
    if person.role == Role.FAMILY and not family_basis_active(room.service_user_id):
        raise Invalid("Record a lawful basis for family sharing first.")
    now = now or clock.now()
    with transaction.atomic():
        m = Membership.objects.select_for_update().filter(room=room, person=person).first()
        if m is not None and m.removed_at is None:
            return m
        hide_history = person.role == Role.FAMILY and room.service_user.family_history_from_join
        visible_from = Room.objects.get(pk=room.pk).last_seq if hide_history else 0
        if m is None:
            m = Membership.objects.create(
                room=room, person=person, joined_at=now, visible_from_seq=visible_from
            )
        else:
            m.removed_at = None
            m.removed_by = None
            m.joined_at = now
            m.visible_from_seq = visible_from
            m.save()
        audit.record(by, "membership.add", room=room, target=f"person:{person.id}", now=now)
        if notify:
            notice(room, f"{person.display_name} joined", "member.joined", now, person=person.id)
        publish.access_changed_on_commit(person.id, room.id)
    return m


def do_remove_member(
    room: Room, person: Person, *, by: Person | None = None, now: dt.datetime | None = None
) -> None:
    """End a membership now; the person's open sockets are told on commit."""
    now = now or clock.now()
    with transaction.atomic():
        updated = Membership.objects.filter(
            room=room, person=person, removed_at__isnull=True
        ).update(removed_at=now, removed_by=by)
        if not updated:
            raise NotFound("That person is not a member of this room.")
        audit.record(by, "membership.remove", room=room, target=f"person:{person.id}", now=now)
        notice(room, f"{person.display_name} left", "member.left", now, person=person.id)
        publish.access_changed_on_commit(person.id, room.id)


def do_join_unless_removed(
    room: Room, person: Person, *, now: dt.datetime | None = None
) -> Membership | None:
    """A bot joining a room it serves by itself: once, and never back after a removal.

    Returns the active membership; joins (without a notice) only when the person never
    held one and ``may_join`` allows it; returns None when a membership was ended (a
    manager removed the bot: that decision sticks until a manager adds it back).
    """
    m = Membership.objects.filter(room=room, person=person).first()
    if m is not None:
        return m if m.removed_at is None else None
    if not may_join(person, room):
        return None
    return do_add_member(room, person, now=now, notify=False)


def check_add_member(actor: Person, room_id: int, person_id: int) -> Membership:
    """A manager adds a person: ``may_join`` decides; every refusal is the same NotFound.

    Nothing is written on refusal (no membership, audit event or notice).
    """
    try:
        room, _ = access_room(actor, room_id, Action.MANAGE)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None
    person = Person.objects.select_related("organisation").filter(pk=person_id).first()
    if person is None or not may_join(person, room):
        raise NotFound(MEMBER_REFUSED)
    try:
        return do_add_member(room, person, by=actor)
    except Invalid:
        # A basis revoked between may_join and the write: the same answer as any refusal.
        raise NotFound(MEMBER_REFUSED) from None


def check_remove_member(actor: Person, room_id: int, person_id: int) -> None:
    """A manager ends a membership; every refusal is the same NotFound."""
    try:
        room, _ = access_room(actor, room_id, Action.MANAGE)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        raise NotFound(MEMBER_REFUSED)
    try:
        do_remove_member(room, person, by=actor)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None


def do_record_family_basis(
    service_user: ServiceUser,
    basis: str,
    *,
    by: Person,
    notes: str = "",
    now: dt.datetime | None = None,
) -> FamilyBasis:
    if basis not in FamilyBasis.Basis.values:
        raise Invalid(f"basis must be one of {', '.join(FamilyBasis.Basis.values)}.")
    now = now or clock.now()
    with transaction.atomic():
        if FamilyBasis.objects.filter(service_user=service_user, revoked_at__isnull=True).exists():
            raise Conflict("A lawful basis is already recorded; revoke it first to change it.")
        fb = FamilyBasis.objects.create(
            service_user=service_user, basis=basis, recorded_by=by, recorded_at=now, notes=notes
        )
        audit.record(by, "family_basis.record", service_user=service_user, now=now)
    return fb


def do_revoke_family_basis(
    service_user: ServiceUser, *, by: Person, now: dt.datetime | None = None
) -> None:
    """Revoke the lawful basis: every family member loses access at once.

    Access checks read the basis on every read and fan-out, so this takes effect at
    commit; open sockets of family members are also told to re-check immediately.
    """
    now = now or clock.now()
    with transaction.atomic():
        n = FamilyBasis.objects.filter(service_user=service_user, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=by
        )
        if not n:
            raise NotFound("No lawful basis is recorded.")
        audit.record(by, "family_basis.revoke", service_user=service_user, now=now)
        family_room = Room.objects.get(service_user=service_user, kind=Room.Kind.FAMILY)
        for m in Membership.objects.filter(
            room=family_room, removed_at__isnull=True, person__role=Role.FAMILY
        ):
            publish.access_changed_on_commit(m.person_id, family_room.id)
