"""The message log's read order and its visibility watermark (DESIGN.md §3.4).

The log is read in ``(txid, id)`` order, where ``txid`` is the id of the transaction that
wrote the entry (``Message.txid``, a column default). A cursor reader only reads entries
whose ``txid`` is below the *watermark*: the oldest transaction that may still write to
this database, computed just before the read (whose later snapshot therefore sees every
entry below it). Every transaction below it has finished, so the set of entries below
the watermark is final and a cursor moving through it in ``(txid, id)`` order never
passes an entry that becomes visible later. Writers of different rooms therefore commit
side by side: no global lock. The proof sketch and the lock order are in docs/log-contract.md.

On SQLite writers are serialised (``transaction_mode=IMMEDIATE``), every ``txid`` is 0
and the order is plain id order: a committed id is never followed by a smaller one.

Nothing here takes a lock.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db import connection
from django.db.models import Max, Q, QuerySet

from rooms.models import Message


class LogPos(NamedTuple):
    """A position in the log; compares in log order."""

    txid: int
    id: int


START = LogPos(0, 0)

# The watermark: the smallest transaction id still running in *this* database (other
# databases of the cluster cannot write here), our own excepted, read from
# pg_stat_activity (top-level ids, which is what entries store; the view is refreshed
# first), capped by the snapshot's xmax (latest completed + 1: anything running from there
# up is at or above it) or, when we have an id, by our own id + 1 (our own uncommitted
# entries are readable, they commit with our cursor; nothing later, which our own later
# inserts would fall behind). A transaction running when the mark is taken but gone by
# the read has finished, and the read (a later statement, a later snapshot) sees it.
# backend_xid is 32-bit: widened to 64 around the snapshot's xmax (ids in use are within
# 2^31 of it).
_PG_WATERMARK = """
WITH ref AS (
  SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax,
         pg_current_xact_id_if_assigned()::text::bigint AS own
)
SELECT LEAST(
  (SELECT min(ref.xmax
              + mod(a.backend_xid::text::bigint - mod(ref.xmax, 4294967296)
                    + 6442450944, 4294967296)
              - 2147483648)
     FROM pg_stat_activity a
     WHERE a.datname = current_database()
       AND a.backend_xid IS NOT NULL
       AND a.pid <> pg_backend_pid()),
  COALESCE(ref.own + 1, ref.xmax))
FROM ref
"""

_PG_READ = (
    "SELECT txid, id FROM rooms_message"
    " WHERE (txid, id) > (%s, %s) AND txid < %s"
    " ORDER BY txid, id LIMIT %s"
)


def watermark() -> int | None:
    """Entries with ``txid`` below this are final and visible (PostgreSQL; None elsewhere).

    Every transaction below it has finished as the statement's snapshot sees it, so any
    later snapshot (the read's) sees all their entries.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        # pg_stat_activity is cached per transaction: refresh it so another database's
        # newer transactions are recognised (a stale view only holds the mark back).
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(_PG_WATERMARK)
        return cur.fetchone()[0]


def read_after(pos: LogPos, limit: int) -> list[LogPos]:
    """Positions of the entries after ``pos`` that a cursor may read now, in log order.

    Safe to call inside the reader's own transaction (its own uncommitted entries are
    included); ``limit`` bounds the batch.
    """
    mark = watermark()
    if mark is not None:
        # A separate, later statement: its snapshot sees everything final below the mark.
        with connection.cursor() as cur:
            cur.execute(_PG_READ, [pos.txid, pos.id, mark, limit])
            return [LogPos(t, i) for t, i in cur.fetchall()]
    return [
        LogPos(t, i)
        for t, i in Message.objects.filter(after(pos))
        .order_by("txid", "id")
        .values_list("txid", "id")[:limit]
    ]


def after(pos: LogPos) -> Q:
    """Entries strictly after ``pos`` in log order, visible or not yet (for lag counts)."""
    return Q(txid__gt=pos.txid) | Q(txid=pos.txid, id__gt=pos.id)


def unread(qs: QuerySet, pos: LogPos) -> QuerySet:
    return qs.filter(after(pos))


def position_of(message: Message) -> LogPos:
    return LogPos(message.txid, message.id)


def head() -> LogPos:
    """The last committed entry in log order (for moving cursors past seeded history)."""
    top = Message.objects.aggregate(t=Max("txid"))["t"]
    if top is None:
        return START
    last = Message.objects.filter(txid=top).aggregate(i=Max("id"))["i"]
    return LogPos(top, last)
