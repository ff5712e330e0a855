"""The message log's read order and its visibility watermark (DESIGN.md §3.4).

The log is read in ``(txid, id)`` order, where ``txid`` is the id of the transaction that
wrote the entry (``Message.txid``, a column default). A cursor reader only reads entries
whose ``txid`` is below the *watermark*: the oldest transaction that may still write to
this database, as seen by the read's own snapshot (computed in the same statement). Every
transaction below it has finished, so the set of entries below the watermark is final and
a cursor moving through it in ``(txid, id)`` order never passes an entry that becomes
visible later. Writers of different rooms therefore commit side by side: no global lock.
The proof sketch and the lock order are in docs/log-contract.md.

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

# The watermark, computed in the read's own statement so its snapshot is the one the rows
# come from. Transactions still running as that snapshot sees them are those in its xip
# list and every id from its xmax (latest completed + 1) up. The watermark is the
# smallest running id, ignoring those pg_stat_activity shows belonging to another database
# of the cluster (they cannot write here; an xid's database never changes, so a stale or
# partial view only filters less). Inside a transaction that has an id, our own entries
# are readable (they commit with our cursor) but nothing from a later transaction: our own
# later inserts would fall behind it. xid8 is 64-bit (never wraps); backend_xid 32-bit.
_PG_WATERMARK = """
SELECT LEAST(
  (SELECT min(running.x) FROM (
      SELECT x::text::bigint AS x FROM pg_snapshot_xip(pg_current_snapshot()) AS x
      UNION ALL
      SELECT generate_series(
        pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
        pg_current_xact_id_if_assigned()::text::bigint - 1)
    ) AS running(x)
    WHERE NOT EXISTS (
      SELECT 1 FROM pg_stat_activity a
      WHERE a.backend_xid IS NOT NULL
        AND a.datname IS DISTINCT FROM current_database()
        AND a.backend_xid::text::bigint = mod(running.x, 4294967296))),
  COALESCE(
    pg_current_xact_id_if_assigned()::text::bigint + 1,
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
)"""

# Built from constants only.
_PG_READ = (
    "SELECT m.txid, m.id FROM rooms_message m"  # noqa: S608
    " WHERE (m.txid, m.id) > (%s, %s) AND m.txid < ("
    + _PG_WATERMARK
    + ") ORDER BY m.txid, m.id LIMIT %s"
)


def watermark() -> int | None:
    """The current watermark on PostgreSQL (for health and tests); None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(_PG_WATERMARK)
        return cur.fetchone()[0]


def read_after(pos: LogPos, limit: int) -> list[LogPos]:
    """Positions of the entries after ``pos`` that a cursor may read now, in log order.

    Safe to call inside the reader's own transaction (its own uncommitted entries are
    included); ``limit`` bounds the batch.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            # pg_stat_activity is cached per transaction; refresh it so another
            # database's newer transactions are recognised (a stale view is only slower).
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute(_PG_READ, [pos.txid, pos.id, limit])
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
