"""Delivers pending push notifications from the outbox, with backoff in columns.

A row is claimed by moving its ``next_attempt_at`` forward by a lease (compare-and-set on
``attempts``; ``select_for_update(skip_locked=True)`` on PostgreSQL), sent outside any
transaction, then its result is stored. A crashed sender's claim expires with the lease
and the row is retried. Outcomes:

- success → ``sent`` (or ``recorded`` on the outbox backend);
- a retryable error → ``next_attempt_at = now + min(base * 2**attempts, cap)``; after
  ``MAX_ATTEMPTS`` → ``failed``;
- a permanent token error (UNREGISTERED, invalid token) → the ``PushDevice`` is disabled
  (``active=False``, ``disabled_reason``) and the row is ``device_disabled``.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from escalation import push
from escalation.models import Notification
from rooms.isolation import RowGuard
from rooms.models import PushDevice, Room

log = logging.getLogger(__name__)

BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next try after ``attempts`` failed tries (1 → 30 s, 2 → 60 s ...)."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


class PushSender:
    name = "escalation.push"
    batch_size = 50

    def run_once(self, now: dt.datetime) -> int:
        """Send up to ``batch_size`` due pushes, each in isolation (``rooms.isolation``):
        one that raises is recorded and retried, and after ``MAX_ATTEMPTS`` marked
        ``failed`` — the rest of the outbox keeps moving."""
        guard = RowGuard(self.name, Notification, atomic=False)
        due_qs = Notification.objects.filter(
            status=Notification.Status.PENDING,
            channel=Notification.Channel.PUSH,
            next_attempt_at__lte=now,
        )
        due = list(
            guard.due(due_qs)
            .order_by("next_attempt_at", "id")
            .annotate(su=Coalesce("alert__service_user_id", "message__room__service_user_id"))
            .values_list("id", "su")[: self.batch_size]
        )
        done = 0
        for nid, su_id in due:
            done += (
                guard.run(
                    nid,
                    partial(self._send_one, nid, now),
                    now,
                    service_user_id=su_id,
                    on_skip=partial(self._give_up, nid),
                )
                or 0
            )
        return done

    def _send_one(self, nid: int, now: dt.datetime) -> int:
        claimed = self._claim(nid, now)
        if claimed is None:
            return 0
        if claimed.message_id is None:
            result = push.send(
                claimed.device.token, claimed.id, language=claimed.recipient.language
            )
        else:
            room = claimed.message.room
            result = push.send(
                claimed.device.token,
                claimed.id,
                push.RoomPush(
                    service_user_id=room.service_user_id,
                    service_user_name=room.service_user.name,
                    family=room.kind == Room.Kind.FAMILY,
                    language=claimed.recipient.language,
                ),
            )
        self._store(claimed, result, now)
        return 1

    @staticmethod
    def _give_up(nid: int) -> None:
        Notification.objects.filter(pk=nid, status=Notification.Status.PENDING).update(
            status=Notification.Status.FAILED, next_attempt_at=None, last_error="worker_error"
        )

    def _claim(self, nid: int, now: dt.datetime) -> Notification | None:
        with transaction.atomic():
            row = (
                Notification.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("device", "recipient", "message__room__service_user")
                .filter(pk=nid, status=Notification.Status.PENDING, next_attempt_at__lte=now)
                .first()
            )
            if row is None:
                return None
            if row.device is None or not row.device.active:
                row.status = Notification.Status.DEVICE_DISABLED
                row.last_error = "device_inactive"
                row.save(update_fields=["status", "last_error"])
                return None
            n = Notification.objects.filter(pk=nid, attempts=row.attempts).update(
                attempts=F("attempts") + 1, next_attempt_at=now + LEASE
            )
            if n != 1:
                return None
            row.attempts += 1
            return row

    def _store(self, row: Notification, result: push.PushResult, now: dt.datetime) -> None:
        with transaction.atomic():
            if result.ok:
                status = (
                    Notification.Status.RECORDED
                    if result.code == "recorded"
                    else Notification.Status.SENT
                )
                Notification.objects.filter(pk=row.pk).update(
                    status=status,
                    sent_at=now,
                    next_attempt_at=None,
                    last_error="",
                    provider_id=result.provider_id,
                )
                return
            if result.permanent:
                Notification.objects.filter(pk=row.pk).update(
                    status=Notification.Status.DEVICE_DISABLED,
                    next_attempt_at=None,
                    last_error=result.code,
                )
                PushDevice.objects.filter(pk=row.device_id, active=True).update(
                    active=False, disabled_at=now, disabled_reason=f"push: {result.code}"[:100]
                )
                log.info("push device %s disabled (%s)", row.device_id, result.code)
                return
            if row.attempts >= MAX_ATTEMPTS:
                Notification.objects.filter(pk=row.pk).update(
                    status=Notification.Status.FAILED, next_attempt_at=None, last_error=result.code
                )
                log.warning(
                    "push notification %s failed after %s attempts (%s)",
                    row.pk,
                    row.attempts,
                    result.code,
                )
                return
            Notification.objects.filter(pk=row.pk).update(
                next_attempt_at=now + backoff(row.attempts), last_error=result.code
            )
