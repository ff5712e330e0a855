"""Matrix membership follows CoCare access: incremental, isolated, retried with backoff.

Who belongs in a bridged room: every person linked to a Matrix account
(``Person.matrix_id``) whom ``rooms.access`` lets read the room. Nobody else is invited.

**Incremental.** Only rooms marked dirty (``RoomSync``, a version counter) are looked at.
Marks come from:
- the log: ``member.joined`` / ``member.left`` notices (``bridge.outbound``, in the
  consumer's transaction, so a crash loses no mark);
- links: each pass compares ``Person.matrix_id`` with the links last acted on
  (``LinkedAccount``) — a link, unlink or re-link by any path marks the person's rooms;
- family bases: a change of ``FamilyBasis`` (recorded or revoked) marks the family rooms
  that have linked readers or Matrix members;
- a room the bridge has just created;
- a slow full check (``BridgeConfig.reconcile_full_seconds``) marks every room that has
  a linked member or a Matrix member, for anything that changed behind our back.

**Isolated.** Each invite and kick is tried on its own: a refusal (a typo in a
``matrix_id``, a ban) or an error answer is recorded on that ``MatrixMember``
(``failures``, ``last_error``) and retried with backoff up to ``max_attempts``; the room
stays dirty until then. It never stops other members, other rooms, or the outbox.
Only a transport error (the homeserver is down) ends the pass.

**Leaving.** A linked user who leaves (or declines) a room in Matrix is left alone:
no invite every pass. A new reason re-invites her: she is added to the CoCare room
again, or her account is linked again. Losing access kicks at once (next pass); a user
the bridge kicked is invited again as soon as she regains access.

Rooms are created eagerly: a dirty room that a linked person may read is created in
Matrix in that pass, even before its first message.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from functools import partial

from django.db import transaction
from django.db.models import Count, F, Max, Q

from bridge.conf import BridgeConfig
from bridge.matrix import MatrixClient, MatrixRefused, MatrixUnavailable
from bridge.models import (
    BridgeCheckpoint,
    BridgedRoom,
    LinkedAccount,
    MatrixMember,
    RoomSync,
)
from rooms.access import Action, allowed
from rooms.isolation import RowGuard
from rooms.models import FamilyBasis, Membership, Person, Room

log = logging.getLogger(__name__)
State = MatrixMember.State
PRESENT = (State.PENDING, State.INVITED, State.JOINED)
FORGETTABLE = (State.LEFT, State.KICKED)
BATCH = 100
WORKER = "bridge.sender"  # the worker these rows belong to (rooms.isolation, health)


def backoff_seconds(attempts: int, cap: float) -> float:
    """1, 2, 4, ... seconds, capped. Pure."""
    return min(cap, 2.0 ** max(0, attempts - 1))


def mark_rooms(room_ids: Iterable[int]) -> None:
    """Mark rooms for reconciliation (idempotent; safe inside any transaction)."""
    for room_id in set(room_ids):
        sync, created = RoomSync.objects.get_or_create(room_id=room_id)
        if not created:
            RoomSync.objects.filter(pk=sync.pk).update(
                version=F("version") + 1, next_attempt_at=None, failures=0
            )
        # A new reason to act: members given up on are tried again.
        MatrixMember.objects.filter(bridged_room__room_id=room_id, failures__gt=0).update(
            failures=0, next_attempt_at=None
        )


def forget_leaves(room_ids: Iterable[int] | None, matrix_id: str) -> None:
    """A new reason to invite (re-added, re-linked): her earlier leave no longer holds."""
    qs = MatrixMember.objects.filter(user_id=matrix_id, state__in=FORGETTABLE)
    if room_ids is not None:
        qs = qs.filter(bridged_room__room_id__in=list(room_ids))
    qs.delete()


def desired_members(room: Room, cfg: BridgeConfig) -> set[str]:
    """Matrix ids of the linked people who may read ``room`` now."""
    linked = Person.objects.filter(
        memberships__room=room, memberships__removed_at__isnull=True, matrix_id__isnull=False
    ).exclude(matrix_id="")
    return {
        p.matrix_id
        for p in linked
        if not cfg.is_ours(p.matrix_id) and allowed(p, room, Action.READ)
    }


class _HomeserverDown(Exception):
    pass


class MembershipReconciler:
    def __init__(
        self,
        cfg: BridgeConfig,
        client: MatrixClient,
        ensure_room: Callable[[Room, dt.datetime], BridgedRoom],
    ):
        self.cfg = cfg
        self.client = client
        self.ensure_room = ensure_room

    def run_once(self, now: dt.datetime) -> int:
        """Find what changed, then reconcile the dirty rooms that are due."""
        self._detect_links(now)
        self._detect_family_bases(now)
        self._full_check(now)
        # An unexpected error in one room (a bug, a row that cannot be read) is recorded
        # and, after a few tries, that room is skipped (rooms.isolation); the rest go on.
        guard = RowGuard(
            WORKER, RoomSync, atomic=False, passthrough=(MatrixUnavailable, _HomeserverDown)
        )
        due = list(
            guard.due(RoomSync.objects.filter(version__gt=F("synced_version")))
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .select_related("room")
            .order_by("id")[:BATCH]
        )
        changed = 0
        for sync in due:
            try:
                changed += (
                    guard.run(
                        sync.pk,
                        partial(self._reconcile, sync, now),
                        now,
                        service_user_id=sync.room.service_user_id,
                    )
                    or 0
                )
            except _HomeserverDown:
                raise MatrixUnavailable("homeserver down") from None
        return changed

    # --- what changed ---

    def _detect_links(self, now: dt.datetime) -> None:
        current = dict(
            Person.objects.filter(matrix_id__isnull=False)
            .exclude(matrix_id="")
            .values_list("id", "matrix_id")
        )
        seen = dict(LinkedAccount.objects.values_list("person_id", "matrix_id"))
        first = not BridgeCheckpoint.objects.filter(name="links").exists()
        people = {p for p in current.keys() | seen.keys() if current.get(p) != seen.get(p)}
        if not people and not first:
            return
        with transaction.atomic():
            for person_id in people:
                old, new = seen.get(person_id), current.get(person_id)
                rooms = set(
                    Membership.objects.filter(person_id=person_id).values_list("room_id", flat=True)
                )
                for matrix_id in (old, new):
                    if matrix_id:
                        rooms |= set(
                            MatrixMember.objects.filter(user_id=matrix_id).values_list(
                                "bridged_room__room_id", flat=True
                            )
                        )
                if new and not first:
                    forget_leaves(None, new)
                mark_rooms(rooms)
                if new:
                    LinkedAccount.objects.update_or_create(
                        person_id=person_id, defaults={"matrix_id": new, "seen_at": now}
                    )
                else:
                    LinkedAccount.objects.filter(person_id=person_id).delete()
            BridgeCheckpoint.objects.update_or_create(
                name="links", defaults={"value": {}, "updated_at": now}
            )

    def _detect_family_bases(self, now: dt.datetime) -> None:
        agg = FamilyBasis.objects.aggregate(
            n=Count("id"), revoked=Count("revoked_at"), last=Max("id")
        )
        point = BridgeCheckpoint.objects.filter(name="family_bases").first()
        if point is not None and point.value == agg:
            return
        with transaction.atomic():
            if point is not None:
                family = Room.objects.filter(kind=Room.Kind.FAMILY)
                mark_rooms(family.filter(_with_matrix_people()).values_list("id", flat=True))
            BridgeCheckpoint.objects.update_or_create(
                name="family_bases", defaults={"value": agg, "updated_at": now}
            )

    def _full_check(self, now: dt.datetime) -> None:
        point = BridgeCheckpoint.objects.filter(name="full_check").first()
        if (
            point is not None
            and (now - point.updated_at).total_seconds() < self.cfg.reconcile_full_seconds
            and point.updated_at <= now
        ):
            return
        with transaction.atomic():
            mark_rooms(Room.objects.filter(_with_matrix_people()).values_list("id", flat=True))
            BridgeCheckpoint.objects.update_or_create(
                name="full_check", defaults={"value": {}, "updated_at": now}
            )

    # --- one room ---

    def _reconcile(self, sync: RoomSync, now: dt.datetime) -> int:
        version = sync.version
        room = sync.room
        desired = desired_members(room, self.cfg)
        bridged = BridgedRoom.objects.filter(room=room).first()
        if bridged is None and desired:
            try:
                bridged = self.ensure_room(room, now)
            except MatrixRefused as exc:
                self._room_failed(sync, now, exc.errcode)
                return 0
            except MatrixUnavailable as exc:
                if exc.status is None:
                    raise _HomeserverDown from None
                self._room_failed(sync, now, str(exc))
                return 0
        changed, retry_at = 0, []
        if bridged is not None:
            members = {m.user_id: m for m in bridged.members.all()}
            for user_id in sorted(desired):
                member = members.get(user_id)
                if member is None:
                    member = MatrixMember.objects.create(
                        bridged_room=bridged, user_id=user_id, state=State.PENDING, updated_at=now
                    )
                elif member.state not in (State.PENDING, State.KICKED):
                    continue  # invited, joined, or left by her own choice
                changed += self._act(member, "invite", now, retry_at)
            for user_id, member in members.items():
                if user_id in desired or self.cfg.is_ours(user_id) or member.state not in PRESENT:
                    continue
                changed += self._act(member, "kick", now, retry_at)
        if retry_at:
            RoomSync.objects.filter(pk=sync.pk).update(next_attempt_at=min(retry_at))
        else:
            RoomSync.objects.filter(pk=sync.pk, version=version).update(
                synced_version=version,
                next_attempt_at=None,
                failures=0,
                last_error="",
                synced_at=now,
            )
        return changed

    def _act(
        self, member: MatrixMember, what: str, now: dt.datetime, retry_at: list[dt.datetime]
    ) -> int:
        """Invite or kick one member; a failure is recorded on the member, never raised
        (except the homeserver being unreachable, which ends the pass)."""
        if member.failures >= self.cfg.max_attempts:
            return 0  # given up until the next mark; last_error says why
        if member.next_attempt_at is not None and member.next_attempt_at > now:
            retry_at.append(member.next_attempt_at)
            return 0
        room_id = member.bridged_room.matrix_room_id
        try:
            if what == "invite":
                reached = self.client.invite(room_id, member.user_id)
                state = State.JOINED if reached == "join" else State.INVITED
            else:
                self.client.kick(room_id, member.user_id, "No longer a member of this CoCare room")
                state = State.KICKED
        except (MatrixRefused, MatrixUnavailable) as exc:
            if isinstance(exc, MatrixUnavailable) and exc.status is None:
                raise _HomeserverDown from None
            error = exc.errcode if isinstance(exc, MatrixRefused) else str(exc)
            failures = member.failures + 1
            next_at = None
            if failures < self.cfg.max_attempts:
                next_at = now + dt.timedelta(
                    seconds=backoff_seconds(failures, self.cfg.retry_max_seconds)
                )
                retry_at.append(next_at)
            MatrixMember.objects.filter(pk=member.pk).update(
                failures=failures, next_attempt_at=next_at, last_error=f"{what}: {error}"[:100]
            )
            log.warning(
                "bridge: %s of a member of room %s failed (%s), attempt %s",
                what,
                member.bridged_room.room_id,
                error,
                failures,
            )
            return 0
        MatrixMember.objects.filter(pk=member.pk).update(
            state=state, updated_at=now, failures=0, next_attempt_at=None, last_error=""
        )
        return 1

    def _room_failed(self, sync: RoomSync, now: dt.datetime, error: str) -> None:
        failures = sync.failures + 1
        RoomSync.objects.filter(pk=sync.pk).update(
            failures=failures,
            last_error=error[:100],
            next_attempt_at=now
            + dt.timedelta(seconds=backoff_seconds(failures, self.cfg.retry_max_seconds)),
        )
        log.warning("bridge: room %s could not be set up (%s)", sync.room_id, error)


def _with_matrix_people() -> Q:
    """Rooms with a linked active member, or a Matrix member the bridge let in."""
    return (
        Q(memberships__removed_at__isnull=True, memberships__person__matrix_id__isnull=False)
        & ~Q(memberships__person__matrix_id="")
    ) | Q(matrix__members__state__in=PRESENT)
