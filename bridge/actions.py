"""State changes of the bridge's CoCare side: linking a person to a Matrix account.

``do_*`` mutate and assume the caller authorised and validated (``bridge.linking`` does,
after the person proved the account is theirs). Both are audited (``rooms.audit``) and
wake the workers on commit: the bridge's next pass invites a newly linked person to every
bridged room they may read and kicks an unlinked account from every bridged room it is
in (``bridge.sender`` reconciles ``Person.matrix_id`` with Matrix membership; the poke is
a hint, the reconcile pass is driven by these committed rows).

Both also mark the person's rooms for ``bridge.reconcile`` in the same transaction. A link
(also of the same id again) is a new reason to invite: rooms she had left in Matrix are
offered again, and rooms she may read that were never bridged are created.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from bridge.models import LinkedAccount, MatrixLinkCode
from bridge.reconcile import forget_leaves, mark_rooms
from rooms import audit
from rooms.errors import Conflict
from rooms.models import Membership, Person
from rooms.publish import poke_workers_on_commit


def do_link_matrix_id(person: Person, matrix_id: str, by: Person, now: dt.datetime) -> None:
    """Set ``person.matrix_id``. Conflict when another person holds that Matrix id.

    Idempotent: linking the id a person already has records nothing (it only offers her
    again the Matrix rooms she had left). The person row is locked, so two confirmations
    cannot interleave.
    """
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        # The bridge forgets what it last acted on: its next pass sees a (re-)link.
        LinkedAccount.objects.filter(person=person).delete()
        forget_leaves(None, matrix_id)
        mark_rooms(Membership.objects.filter(person=person).values_list("room_id", flat=True))
        if locked.matrix_id == matrix_id:
            person.matrix_id = matrix_id
            poke_workers_on_commit()
            return
        if Person.objects.filter(matrix_id=matrix_id).exclude(pk=person.pk).exists():
            raise Conflict(
                "This Matrix account is already linked to someone else in CoCare. "
                "Unlink it there first."
            )
        Person.objects.filter(pk=person.pk).update(matrix_id=matrix_id)
        person.matrix_id = matrix_id
        audit.record(by, "matrix.link", target=f"person:{person.pk}", now=now)
        poke_workers_on_commit()


def do_unlink_matrix_id(person: Person, by: Person, now: dt.datetime) -> bool:
    """Clear ``person.matrix_id`` and withdraw their pending link codes.

    Returns False (and records nothing) when the person had no Matrix account linked.
    """
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        MatrixLinkCode.objects.filter(person=person, state=MatrixLinkCode.State.PENDING).update(
            state=MatrixLinkCode.State.SUPERSEDED
        )
        person.matrix_id = None
        if not locked.matrix_id:
            return False
        Person.objects.filter(pk=person.pk).update(matrix_id=None)
        mark_rooms(Membership.objects.filter(person=person).values_list("room_id", flat=True))
        audit.record(by, "matrix.unlink", target=f"person:{person.pk}", now=now)
        poke_workers_on_commit()
        return True
