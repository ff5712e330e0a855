"""Staff of an organisation: role changes and deactivation, for its administrators.

``check_*`` authorise through ``rooms.access`` (``access_staff``, ``grantable_roles``): a
person outside the administrator's organisation answers exactly like one who does not
exist. ``do_*`` write, in one transaction, audited, with live effects on commit.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from cocare_chat import clock
from rooms import audit, publish
from rooms.access import access_staff, grantable_roles
from rooms.errors import Invalid
from rooms.models import Membership, Person
from rooms.sessions import do_deactivate_person

SELF = "You cannot change your own account here; ask another administrator."


def do_change_role(
    person: Person, role: str, *, by: Person | None, now: dt.datetime | None = None
) -> bool:
    """Give ``person`` a new role. Idempotent: False (nothing written) if unchanged.

    The person's row is locked for the change. Access follows the role at every read and
    fan-out (``rooms.access``), so the change is effective at commit; each room the person
    is in is also told on commit, so open sockets re-check at once (a care worker made an
    administrator stops receiving). Audited as ``person.role`` with the new role only.
    """
    now = now or clock.now()
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        if locked.role == role:
            return False
        Person.objects.filter(pk=person.pk).update(role=role)
        person.role = role
        audit.record(by, "person.role", target=f"person:{person.pk}:{role}"[:100], now=now)
        for room_id in Membership.objects.filter(
            person=person, removed_at__isnull=True
        ).values_list("room_id", flat=True):
            publish.access_changed_on_commit(person.pk, room_id)
    return True


def check_change_role(
    admin: Person, person_id: int, role: str, *, now: dt.datetime | None = None
) -> Person:
    """An administrator changes the role of one of their staff to one they may grant."""
    person = access_staff(admin, person_id)
    if person.pk == admin.pk:
        raise Invalid(SELF)
    if role not in grantable_roles(admin):
        raise Invalid("Choose one of the roles you may give.")
    do_change_role(person, role, by=admin, now=now)
    return person


def check_deactivate(admin: Person, person_id: int, *, now: dt.datetime | None = None) -> bool:
    """An administrator deactivates one of their staff: signed out everywhere at once
    (``rooms.sessions.do_deactivate_person`` closes every open socket). Idempotent."""
    person = access_staff(admin, person_id)
    if person.pk == admin.pk:
        raise Invalid(SELF)
    return do_deactivate_person(person, by=admin, now=now)
