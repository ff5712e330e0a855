"""Actions on care networks: service users, their two rooms, members and family basis.

``do_*`` mutate; ``check_*`` authorise then call ``do_*``. Each runs in one transaction;
live effects (access changes, notices) are published on commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cocare_chat import clock
from rooms import audit, publish
from rooms.access import Action, access_room, may_join, member_basis_active, role_allowed
from rooms.bounds import BoundedDate
from rooms.errors import Conflict, Invalid, NotFound
from rooms.messages import post_message
from rooms.models import (
    FamilyBasis,
    KeyInfoVersion,
    Membership,
    Organisation,
    Person,
    Role,
    Room,
    ServiceUser,
)

SYSTEM_NAME = "CoCare"
SYSTEM_KEY = "system"
# Every refusal of an add/remove-member request reads the same, whatever the reason
# (unknown room or person, no right to manage, another tenant, wrong role, no basis):
# ids and roles cannot be probed (docs/security.md "Adding members").
MEMBER_REFUSED = "No such room or person."
# A basis recorded without an explicit review date is reviewed a year later.
BASIS_REVIEW_DAYS = 365


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
    to key information moves ``key_info_updated_at`` (the bot tells the next visit) and
    appends a ``KeyInfoVersion`` (the values after the change, who, which fields; a
    baseline version 1 first if none exists), numbered under a lock on the service
    user's row so two editors never take the same number. Audited with the changed field
    names only, never their content.
    """
    known = {f.name for f in ServiceUser._meta.concrete_fields}
    bad = sorted((set(fields) & FIXED_FIELDS) | (set(fields) - known))
    if bad:
        raise Invalid(f"{', '.join(bad)} cannot be changed.")
    now = now or clock.now()
    with transaction.atomic():
        locked = ServiceUser.objects.select_for_update().get(pk=su.pk)
        changed = sorted(f for f, v in fields.items() if getattr(locked, f) != v)
        if not changed:
            return su
        key_changed = sorted(KEY_INFO_FIELDS & set(changed))
        if key_changed:
            _key_info_version(locked, key_changed, fields, by, now)
        for f in changed:
            setattr(su, f, fields[f])
        if key_changed:
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


def _key_info_version(
    su: ServiceUser, changed: list[str], fields: dict, by: Person | None, now: dt.datetime
) -> KeyInfoVersion:
    """Append the version after this change (the caller holds the service user's lock)."""
    last = KeyInfoVersion.objects.filter(service_user=su).order_by("-version").first()
    if last is None:
        last = KeyInfoVersion.objects.create(
            service_user=su,
            version=1,
            changed_at=su.key_info_updated_at or su.created_at,
            **{f: getattr(su, f) for f in KEY_INFO_FIELDS},
        )
    return KeyInfoVersion.objects.create(
        service_user=su,
        version=last.version + 1,
        changed_fields=",".join(changed),
        changed_by=by,
        changed_at=now,
        **{f: fields.get(f, getattr(su, f)) for f in KEY_INFO_FIELDS},
    )


def do_add_member(
    room: Room,
    person: Person,
    *,
    by: Person | None = None,
    now: dt.datetime | None = None,
    notify: bool = True,
    history_before_join: bool | None = None,
) -> Membership:
    """Add (or re-add) a member. Idempotent on (room, person): an active member is kept.

    Structural checks only (the role fits the room, the service user is themselves, the
    family member's own basis is recorded); who may add whom is ``check_add_member`` /
    ``may_join``. A family member sees history from joining unless
    ``history_before_join`` (the person's choice for this member; by default the service
    user's ``family_history_from_join`` setting).
    """
    if not role_allowed(person.role, room.kind):
        raise Invalid(f"A {person.get_role_display()} cannot join the {room.kind} room.")
    if person.role == Role.SERVICE_USER and room.service_user.person_id != person.id:
        raise Invalid("Only the service user themselves can join as service user.")
    if person.role == Role.FAMILY and not member_basis_active(room.service_user_id, person.id):
        raise Invalid("Record a lawful basis for family sharing first.")
    now = now or clock.now()
    with transaction.atomic():
        m = Membership.objects.select_for_update().filter(room=room, person=person).first()
        if m is not None and m.removed_at is None:
            return m
        if history_before_join is None:
            history_before_join = not room.service_user.family_history_from_join
        hide_history = person.role == Role.FAMILY and not history_before_join
        head = Room.objects.get(pk=room.pk).last_seq
        visible_from = head if hide_history else 0
        if m is None:
            m = Membership.objects.create(
                room=room,
                person=person,
                joined_at=now,
                visible_from_seq=visible_from,
                joined_seq=head,
                history_before_join=person.role == Role.FAMILY and history_before_join,
            )
        else:
            m.removed_at = None
            m.removed_by = None
            m.joined_at = now
            m.joined_seq = head
            m.history_before_join = person.role == Role.FAMILY and history_before_join
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


class FamilyBasisIn(BaseModel):
    """A lawful basis as a manager records it (page form, API body, invitation).

    ``consent`` is the person's own agreement (``notes``: who agreed and how);
    ``best_interests`` needs the ``decision`` as recorded; ``lpa`` needs the
    registration ``lpa_reference``. ``review_on`` is when it must be looked at again.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    basis: Literal["consent", "best_interests", "lpa"]
    notes: str = Field(default="", max_length=500)
    decision: str = Field(default="", max_length=2000)
    lpa_reference: str = Field(default="", max_length=100)
    review_on: BoundedDate

    @model_validator(mode="after")
    def _evidence(self) -> FamilyBasisIn:
        if self.basis == "best_interests" and not self.decision:
            raise ValueError("a best-interests basis needs the decision as recorded")
        if self.basis == "lpa" and not self.lpa_reference:
            raise ValueError("a lasting power of attorney needs its reference")
        return self


def default_review_on(now: dt.datetime) -> dt.date:
    return timezone.localdate(now) + dt.timedelta(days=BASIS_REVIEW_DAYS)


def do_record_family_basis(
    service_user: ServiceUser,
    member: Person,
    basis: str | FamilyBasisIn,
    *,
    by: Person,
    notes: str = "",
    decision: str = "",
    lpa_reference: str = "",
    review_on: dt.date | None = None,
    now: dt.datetime | None = None,
) -> FamilyBasis:
    """Record ``member``'s lawful basis for ``service_user``'s family room.

    One active basis per (service user, member): unique constraint
    ``one_active_family_basis_per_member``; a second is a Conflict (revoke, then record).
    A plain basis name (tests, the demo) is checked through :class:`FamilyBasisIn` with
    the keyword evidence, reviewed a year ahead unless ``review_on``. Audited
    ``family_basis.record``; the member's open sockets are told to re-check on commit (a
    re-recorded basis gives the room back).
    """
    if member.role != Role.FAMILY:
        raise Invalid("A lawful basis is recorded for a family member or friend.")
    now = now or clock.now()
    if isinstance(basis, str):
        try:
            data = FamilyBasisIn(
                basis=basis,  # type: ignore[arg-type]
                notes=notes,
                decision=decision,
                lpa_reference=lpa_reference,
                review_on=review_on or default_review_on(now),
            )
        except ValidationError as exc:
            raise Invalid(
                "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            ) from None
    else:
        data = basis
    with transaction.atomic():
        if FamilyBasis.objects.filter(
            service_user=service_user, person=member, revoked_at__isnull=True
        ).exists():
            raise Conflict("A lawful basis is already recorded; revoke it first to change it.")
        try:
            with transaction.atomic():
                fb = FamilyBasis.objects.create(
                    service_user=service_user,
                    person=member,
                    basis=data.basis,
                    recorded_by=by,
                    recorded_at=now,
                    notes=data.notes,
                    decision=data.decision,
                    lpa_reference=data.lpa_reference,
                    review_on=data.review_on,
                )
        except IntegrityError:
            raise Conflict(
                "A lawful basis is already recorded; revoke it first to change it."
            ) from None
        audit.record(
            by,
            "family_basis.record",
            service_user=service_user,
            target=f"person:{member.id}",
            now=now,
        )
        room = Room.objects.filter(service_user=service_user, kind=Room.Kind.FAMILY).first()
        if room is not None:
            publish.access_changed_on_commit(member.id, room.id)
    return fb


def do_revoke_family_basis(
    service_user: ServiceUser,
    member: Person,
    *,
    by: Person,
    now: dt.datetime | None = None,
) -> FamilyBasis:
    """Revoke one family member's lawful basis: that member loses access at once.

    Other family members keep theirs. Access checks read the member's basis on every
    read, send and fan-out, so this takes effect at commit; the member's open sockets are
    also told to re-check on commit (``access.changed``), and the per-process access
    watch (rooms.accesswatch) is the backstop within its interval. Audited
    ``family_basis.revoke``. NotFound when the member has no active basis.
    """
    now = now or clock.now()
    with transaction.atomic():
        fb = (
            FamilyBasis.objects.select_for_update()
            .filter(service_user=service_user, person=member, revoked_at__isnull=True)
            .first()
        )
        if fb is None:
            raise NotFound("No lawful basis is recorded.")
        fb.revoked_at = now
        fb.revoked_by = by
        fb.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(
            by,
            "family_basis.revoke",
            service_user=service_user,
            target=f"person:{member.id}",
            now=now,
        )
        room = Room.objects.filter(service_user=service_user, kind=Room.Kind.FAMILY).first()
        if room is not None:
            publish.access_changed_on_commit(member.id, room.id)
    return fb


def do_review_family_basis(
    service_user: ServiceUser,
    member: Person,
    review_on: dt.date,
    *,
    by: Person,
    now: dt.datetime | None = None,
) -> FamilyBasis:
    """The basis was reviewed and still holds: move its review date. Audited."""
    now = now or clock.now()
    if review_on <= timezone.localdate(now):
        raise Invalid("The next review must be after today.")
    with transaction.atomic():
        fb = (
            FamilyBasis.objects.select_for_update()
            .filter(service_user=service_user, person=member, revoked_at__isnull=True)
            .first()
        )
        if fb is None:
            raise NotFound("No lawful basis is recorded.")
        fb.review_on = review_on
        fb.save(update_fields=["review_on"])
        audit.record(
            by,
            "family_basis.review",
            service_user=service_user,
            target=f"person:{member.id}",
            now=now,
        )
    return fb


def do_set_history_before_join(
    service_user: ServiceUser,
    member: Person,
    sees_earlier: bool,
    *,
    by: Person,
    now: dt.datetime | None = None,
) -> Membership:
    """The person's choice for one family member: family-room history from before they
    joined, or only from joining (``Membership.visible_from_seq`` is 0 or ``joined_seq``).

    Audited ``family_history.set``; the member's open sockets re-check on commit.
    NotFound when the member holds no family-room membership.
    """
    now = now or clock.now()
    with transaction.atomic():
        m = _locked_family_membership(service_user, member)
        m.history_before_join = sees_earlier
        m.visible_from_seq = 0 if sees_earlier else m.joined_seq
        m.save(update_fields=["visible_from_seq", "history_before_join"])
        audit.record(
            by,
            "family_history.set",
            service_user=service_user,
            target=f"person:{member.id}:{'all' if sees_earlier else 'from_join'}",
            now=now,
        )
        publish.access_changed_on_commit(member.id, m.room_id)
    return m


def _locked_family_membership(service_user: ServiceUser, member: Person) -> Membership:
    """The member's active family-room membership, row-locked to commit; NotFound otherwise."""
    m = (
        Membership.objects.select_for_update()
        .filter(
            room__service_user=service_user,
            room__kind=Room.Kind.FAMILY,
            person=member,
            removed_at__isnull=True,
        )
        .first()
    )
    if m is None or member.role != Role.FAMILY:
        raise NotFound("That person is not a member of this room.")
    return m


def do_set_goal_writer(
    service_user: ServiceUser,
    member: Person,
    agreed: bool,
    *,
    by: Person,
    now: dt.datetime | None = None,
) -> Membership:
    """The person's agreement that one family member may write their goals and "what
    matters to me" (``Membership.may_write_goals``). Audited ``family_goals.set``.
    NotFound when the member holds no family-room membership."""
    now = now or clock.now()
    with transaction.atomic():
        m = _locked_family_membership(service_user, member)
        m.may_write_goals = agreed
        m.save(update_fields=["may_write_goals"])
        audit.record(
            by,
            "family_goals.set",
            service_user=service_user,
            target=f"person:{member.id}:{'yes' if agreed else 'no'}",
            now=now,
        )
    return m


def check_set_goal_writer(actor: Person, su_id: int, person_id: int, agreed: bool) -> Membership:
    """Recorded by the provider's care manager (the person's agreement) or by the service
    user on their own account; anyone else: the one NotFound."""
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is not None and actor.role == Role.SERVICE_USER and su.person_id == actor.id:
        member = Person.objects.filter(pk=person_id, role=Role.FAMILY).first()
        if member is None:
            raise NotFound(MEMBER_REFUSED)
    else:
        room, member = access_family_member(actor, su_id, person_id)
        su = room.service_user
    try:
        return do_set_goal_writer(su, member, agreed, by=actor)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None


def family_bases(service_user: ServiceUser) -> QuerySet[FamilyBasis]:
    """Every basis ever recorded for this person's family, newest first (the record)."""
    return (
        FamilyBasis.objects.filter(service_user=service_user)
        .select_related("person", "recorded_by", "revoked_by")
        .order_by("-recorded_at", "-id")
    )


def reviews_due(service_users: QuerySet[ServiceUser], today: dt.date) -> QuerySet[FamilyBasis]:
    """Active bases whose review date is today or past, for these service users."""
    return (
        FamilyBasis.objects.filter(
            service_user__in=service_users, revoked_at__isnull=True, review_on__lte=today
        )
        .select_related("person", "service_user")
        .order_by("review_on", "id")
    )


def access_family_member(actor: Person | None, su_id: int, person_id: int) -> tuple[Room, Person]:
    """The family room of ``su_id`` and a family member linked to it (a membership of
    that room, current or past), if ``actor`` may manage its members; one NotFound
    (:data:`MEMBER_REFUSED`) whatever the reason."""
    room = Room.objects.filter(service_user_id=su_id, kind=Room.Kind.FAMILY).first()
    if room is None:
        raise NotFound(MEMBER_REFUSED)
    try:
        room, _ = access_room(actor, room.id, Action.MANAGE)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None
    member = (
        Person.objects.filter(pk=person_id, role=Role.FAMILY, memberships__room=room)
        .distinct()
        .first()
    )
    if member is None:
        raise NotFound(MEMBER_REFUSED)
    return room, member


def check_record_family_basis(
    actor: Person, su_id: int, person_id: int, data: FamilyBasisIn
) -> FamilyBasis:
    room, member = access_family_member(actor, su_id, person_id)
    return do_record_family_basis(room.service_user, member, data, by=actor)


def check_revoke_family_basis(actor: Person, su_id: int, person_id: int) -> FamilyBasis:
    """The provider's care manager revokes any basis; the person themselves, on their own
    account, withdraws a *consent* they gave (a best-interests decision or an LPA is not
    theirs to end here). Anyone else, or anything else: the one NotFound."""
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is not None and actor.role == Role.SERVICE_USER and su.person_id == actor.id:
        fb = FamilyBasis.objects.filter(
            service_user=su, person_id=person_id, revoked_at__isnull=True, basis="consent"
        ).first()
        if fb is None:
            raise NotFound(MEMBER_REFUSED)
        member = fb.person
    else:
        room, member = access_family_member(actor, su_id, person_id)
        su = room.service_user
    try:
        return do_revoke_family_basis(su, member, by=actor)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None


def check_review_family_basis(
    actor: Person, su_id: int, person_id: int, review_on: dt.date
) -> FamilyBasis:
    room, member = access_family_member(actor, su_id, person_id)
    try:
        return do_review_family_basis(room.service_user, member, review_on, by=actor)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None


def check_set_history_before_join(
    actor: Person, su_id: int, person_id: int, sees_earlier: bool
) -> Membership:
    """Recorded by the provider's care manager (the person's decision) or by the service
    user themselves on their own account; anyone else: the one NotFound."""
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is not None and actor.role == Role.SERVICE_USER and su.person_id == actor.id:
        member = Person.objects.filter(pk=person_id, role=Role.FAMILY).first()
        if member is None:
            raise NotFound(MEMBER_REFUSED)
    else:
        room, member = access_family_member(actor, su_id, person_id)
        su = room.service_user
    try:
        return do_set_history_before_join(su, member, sees_earlier, by=actor)
    except NotFound:
        raise NotFound(MEMBER_REFUSED) from None
