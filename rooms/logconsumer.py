"""Durable consumers of the message log (DESIGN.md §3.4).

A consumer keeps a cursor (``ConsumerCursor``) over ``Message.id``. :meth:`run_once`
claims the cursor row (``select_for_update``: one instance of a consumer works at a
time, others wait), handles a batch, and advances the cursor in the same transaction as
the handler's writes — so a crash either keeps both or neither, and a replay (cursor
reset) only repeats effects that are themselves keyed.

Each message runs in a savepoint. A handler that raises has its writes rolled back, the
failure is recorded, and the batch stops there to retry next run; after
``max_attempts`` the message is marked skipped and the cursor moves past it — one bad
message never stops safeguarding alerts behind it. Skipped and failing entries and the
cursor's lag are reported by ``rooms.health`` (``manage.py health``) and shown to the
provider's care managers on the exceptions page until one marks the entry reviewed.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction

from rooms.models import ConsumerCursor, ConsumerFailure, Message

log = logging.getLogger(__name__)


class LogConsumer:
    #: unique cursor name
    name: str = ""
    batch_size: int = 200
    max_attempts: int = 3

    def select(self, qs):
        """Narrow the log query (e.g. by kind); the cursor still advances over all ids."""
        return qs

    def handle(self, message: Message, now: dt.datetime) -> None:  # pragma: no cover
        raise NotImplementedError

    def run_once(self, now: dt.datetime) -> int:
        """Process one batch; return the number of log entries the cursor moved over."""
        # Cheap look first, outside a transaction: an idle poll must not take the write
        # lock (on SQLite every transaction here is IMMEDIATE and would block writers).
        pos = ConsumerCursor.objects.filter(name=self.name).values_list("position", flat=True)
        if pos and not Message.objects.filter(id__gt=pos[0]).exists():
            return 0
        with transaction.atomic():
            cursor, _ = ConsumerCursor.objects.get_or_create(name=self.name)
            cursor = ConsumerCursor.objects.select_for_update().get(pk=cursor.pk)
            ids = list(
                Message.objects.filter(id__gt=cursor.position)
                .order_by("id")
                .values_list("id", flat=True)[: self.batch_size]
            )
            if not ids:
                return 0
            wanted = {
                m.id: m
                for m in self.select(
                    Message.objects.filter(id__in=ids).select_related(
                        "sender", "room", "room__service_user", "target", "reply_to"
                    )
                )
            }
            moved = 0
            for mid in ids:
                msg = wanted.get(mid)
                if msg is not None and not self._handle_safely(msg, now):
                    break
                cursor.position = mid
                moved += 1
            cursor.updated_at = now
            cursor.save(update_fields=["position", "updated_at"])
            return moved

    def _handle_safely(self, msg: Message, now: dt.datetime) -> bool:
        """True when the cursor may move past ``msg`` (handled, or skipped as poison)."""
        try:
            with transaction.atomic():
                self.handle(msg, now)
            return True
        except Exception as exc:
            failure, _ = ConsumerFailure.objects.get_or_create(
                consumer=self.name,
                message=msg,
                defaults={"first_at": now, "last_at": now, "error": ""},
            )
            failure.attempts += 1
            failure.last_at = now
            # Exception type and message id only: the text may quote the message body.
            failure.error = type(exc).__name__
            failure.skipped = failure.attempts >= self.max_attempts
            failure.save()
            # A skip is an error (a safeguarding entry went unprocessed); it is also
            # surfaced by `manage.py health` and on the care managers' exceptions page.
            log.log(
                logging.ERROR if failure.skipped else logging.WARNING,
                "consumer %s failed on message %s (attempt %s%s): %s",
                self.name,
                msg.id,
                failure.attempts,
                ", skipped" if failure.skipped else "",
                failure.error,
            )
            return failure.skipped

    def reset(self, position: int = 0) -> None:
        ConsumerCursor.objects.update_or_create(name=self.name, defaults={"position": position})
