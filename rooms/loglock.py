"""Serialises log inserts so message ids become visible in id order (DESIGN.md §3.4).

On PostgreSQL a sequence value taken by one transaction can commit after a larger one,
and a cursor reader would skip it. Every log insert therefore first takes one
transaction-scoped advisory lock, released at commit, *after* the rows are visible. On
SQLite the write lock (``transaction_mode=IMMEDIATE``) already serialises writers.

Lock order: the log lock is always taken before any room row lock, so two transactions
can never wait on each other in opposite order.
"""

from __future__ import annotations

from django.db import connection

LOG_LOCK_KEY = 0x0C0CA2E  # arbitrary, fixed


def lock_log() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOG_LOCK_KEY])
