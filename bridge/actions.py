"""Linking a CoCare person to a Matrix account, and unlinking (``do_*``: no authorisation).

Callers authorise first (the account-linking flow proves the Matrix account is theirs;
a care manager of the person's provider, or the person themselves). These only mutate,
in one transaction, and audit.

What follows in Matrix (``bridge.reconcile``, within one pass of the bridge worker):
- link: every room the person may read is created in Matrix if it was not yet, and she
  is invited to each — also rooms she had left in Matrix before (a re-link is a new
  reason to invite);
- unlink: she is kicked from every bridged room at once; her Matrix account no longer
  reaches the record.
Idempotent: linking the same id again re-invites to rooms she left; unlinking an
unlinked person does nothing.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import transaction

from bridge import conf
from bridge.models import LinkedAccount
from bridge.reconcile import forget_leaves, mark_rooms
from cocare_chat import clock
from rooms import audit
from rooms.errors import Conflict, Invalid
from rooms.models import Membership, Person

# The Matrix user id grammar (spec: "User identifiers"): @localpart:server[:port].
MATRIX_ID = re.compile(r"^@[a-z0-9._=\-/+]{1,200}:[A-Za-z0-9.\-]{1,230}(:\d{1,5})?$")


def valid_matrix_id(matrix_id: str) -> bool:
    return MATRIX_ID.fullmatch(matrix_id) is not None and len(matrix_id) <= 255


def do_link_matrix_id(person: Person, matrix_id: str, *, by: Person | None = None,
                      now: dt.datetime | None = None) -> Person:
    """Link ``person`` to ``matrix_id``. Raises Invalid (malformed, or one of the
    bridge's own puppets) or Conflict (linked to someone else)."""
    matrix_id = matrix_id.strip()
    if not valid_matrix_id(matrix_id):
        raise Invalid("That is not a Matrix user id (it looks like @name:server.org).")
    cfg = conf.load()
    if cfg is not None and cfg.is_ours(matrix_id):
        raise Invalid("That Matrix id belongs to the CoCare bridge.")
    now = now or clock.now()
    with transaction.atomic():
        if Person.objects.filter(matrix_id=matrix_id).exclude(pk=person.pk).exists():
            raise Conflict("That Matrix account is linked to someone else.")
        Person.objects.filter(pk=person.pk).update(matrix_id=matrix_id)
        person.matrix_id = matrix_id
        # Forget what the bridge last acted on: its next pass sees a (re-)link.
        LinkedAccount.objects.filter(person=person).delete()
        forget_leaves(None, matrix_id)
        mark_rooms(Membership.objects.filter(person=person).values_list("room_id", flat=True))
        audit.record(by, "matrix.link", target=f"person:{person.id}", now=now)
    return person


def do_unlink_matrix_id(person: Person, *, by: Person | None = None,
                        now: dt.datetime | None = None) -> Person:
    """Unlink ``person``'s Matrix account; the bridge kicks it from every room next pass."""
    now = now or clock.now()
    with transaction.atomic():
        if not Person.objects.filter(pk=person.pk, matrix_id__isnull=False).exclude(
                matrix_id="").exists():
            person.matrix_id = None
            return person
        Person.objects.filter(pk=person.pk).update(matrix_id=None)
        person.matrix_id = None
        mark_rooms(Membership.objects.filter(person=person).values_list("room_id", flat=True))
        audit.record(by, "matrix.unlink", target=f"person:{person.id}", now=now)
    return person
