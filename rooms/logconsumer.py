"""Durable consumers of the message log (DESIGN.md §3.4).

A consumer keeps a cursor (``ConsumerCursor``) over the log order ``(txid, id)``, reading
only below the visibility watermark (``rooms.logorder``). :meth:`run_once`
reads a batch, then handles each entry in its own short transaction that claims the cursor
row (``select_for_update`` plus compare-and-set: two instances never handle the same
entry) and advances the cursor with the handler's writes — so a crash either keeps both or
neither, and a replay (cursor reset) only repeats effects that are themselves keyed. No
lock is held across the batch (docs/log-contract.md).

Each message's handler runs in a savepoint. A handler that raises has its writes rolled back, the
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

from rooms.logorder import START, LogPos, read_after
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
        """Process one batch; return the number of log entries the cursor moved over.

        The batch is read in log order below the visibility watermark
        (``rooms.logorder``), so an entry committed late by a slow writer is read after,
        never skipped. Each handled entry then runs in its own transaction: claim this
        consumer's cursor row (``select_for_update``, and compare it with the position
        this batch started from — another instance that moved it wins and this one stops),
        handle, advance, commit. So no lock outlives one entry, and a handler's locks are
        taken in the documented order (docs/log-contract.md) with nothing held before.
        """
        # Cheap look first, outside a transaction: an idle poll must not take the write
        # lock (on SQLite every transaction here is IMMEDIATE and would block writers).
        row = ConsumerCursor.objects.filter(name=self.name).values_list("txid", "position")
        if row and not read_after(LogPos(*row[0]), 1):
            return 0
        cursor, _ = ConsumerCursor.objects.get_or_create(name=self.name)
        done = LogPos(cursor.txid, cursor.position)
        entries = read_after(done, self.batch_size)
        if not entries:
            return 0
        wanted = {
            m.id: m
            for m in self.select(
                Message.objects.filter(id__in=[e.id for e in entries]).select_related(
                    "sender", "room", "room__service_user", "target", "reply_to"
                )
            )
        }
        passed = done  # entries not wanted are passed over with the next write
        for entry in entries:
            msg = wanted.get(entry.id)
            if msg is None:
                passed = entry
                continue
            with transaction.atomic():
                if not self._claim(done):
                    return self._moved(entries, done)
                handled = self._handle_safely(msg, now)
                self._advance(entry if handled else passed, now)
            done = passed = entry if handled else passed
            if not handled:
                return self._moved(entries, done)
        if passed != done:
            with transaction.atomic():
                if self._claim(done):
                    self._advance(passed, now)
                    done = passed
        return self._moved(entries, done)

    def _claim(self, expected: LogPos) -> bool:
        """Lock the cursor row; True if it is still where this batch left it."""
        row = (
            ConsumerCursor.objects.select_for_update()
            .filter(name=self.name)
            .values_list("txid", "position")
            .get()
        )
        return LogPos(*row) == expected

    def _advance(self, pos: LogPos, now: dt.datetime) -> None:
        ConsumerCursor.objects.filter(name=self.name).update(
            txid=pos.txid, position=pos.id, updated_at=now
        )

    @staticmethod
    def _moved(entries: list[LogPos], done: LogPos) -> int:
        return sum(1 for e in entries if e <= done)

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

    def reset(self, position: LogPos = START) -> None:
        """Move the cursor to ``position`` (the start by default): a replay."""
        ConsumerCursor.objects.update_or_create(
            name=self.name, defaults={"txid": position.txid, "position": position.id}
        )
