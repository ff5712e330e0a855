"""Large imports of history rows: COPY on PostgreSQL, ``bulk_create`` elsewhere.

For synthetic or imported history only (``web.demo.build_scale``, ``bots.synthetic``) —
never live data: nothing here goes through the write paths, sends hints or pokes
workers, which is right for history that is not news and wrong for anything else.

Rows are plain dicts keyed by field attname (``room_id``, not ``room``); fields left out
get the model field's default (the same value ``Model()`` would give; fields with a
database default are left to the database). Ids come from each table's own sequence,
reserved up front in blocks (``ids``), so rows can reference rows not yet written.
Rows are buffered and may still be amended until ``flush``; the caller flushes at points
where every reference in the buffer is complete and commits after (foreign keys are
deferred to COMMIT on PostgreSQL, so the tables' order within one flush does not matter).
Unused reserved ids are gaps, as after a rollback.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any

from django.db import DatabaseError, connection, models, transaction

log = logging.getLogger(__name__)
ID_BLOCK = 20_000


class BulkLoader:
    def __init__(self, *, trusted_references: bool = False) -> None:
        # The caller built every reference itself (ids it reserved or read): on
        # PostgreSQL the rows it copies skip the foreign-key triggers, as pg_restore
        # --disable-triggers does — at volume their checks at COMMIT were ~40% of a seed.
        # Needs a role allowed to set session_replication_role; otherwise they stay on.
        self.trusted_references = trusted_references
        self.rows: dict[type[models.Model], list[dict[str, Any]]] = {}
        self._ids: dict[type[models.Model], list[int]] = {}
        self._next_local: dict[type[models.Model], int] = {}
        self.written = 0

    # ---- ids -----------------------------------------------------------------------------

    def ids(self, model: type[models.Model], n: int) -> list[int]:
        """``n`` fresh primary keys of ``model``'s table, in increasing order."""
        pool = self._ids.setdefault(model, [])
        if len(pool) < n:
            pool.extend(self._reserve(model, max(n - len(pool), ID_BLOCK)))
        taken, self._ids[model] = pool[:n], pool[n:]
        return taken

    def _reserve(self, model: type[models.Model], n: int) -> list[int]:
        table, pk = model._meta.db_table, model._meta.pk.column
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                # One row holding an array: 20,000 single-value rows cost more to fetch.
                cur.execute(
                    "SELECT array_agg(nextval(pg_get_serial_sequence(%s, %s))) "
                    "FROM generate_series(1, %s)",
                    [table, pk, n],
                )
                return sorted(cur.fetchone()[0])
            # SQLite and others: one writer at a time (a seed run); continue past the max.
            if model not in self._next_local:
                cur.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {table}")  # noqa: S608
                self._next_local[model] = cur.fetchone()[0] + 1
        first = self._next_local[model]
        self._next_local[model] = first + n
        return list(range(first, first + n))

    # ---- rows ----------------------------------------------------------------------------

    def add(self, model: type[models.Model], row: dict[str, Any]) -> dict[str, Any]:
        """Buffer one row (returned: it may be amended until the next ``flush``)."""
        self.rows.setdefault(model, []).append(row)
        return row

    def pending(self) -> int:
        return sum(len(r) for r in self.rows.values())

    def flush(self) -> int:
        """Write every buffered row; returns how many. Call inside the caller's transaction."""
        n = 0
        skipping = (
            self.trusted_references
            and connection.vendor == "postgresql"
            and self.pending() > 0
            and _reference_triggers("replica")
        )
        for model, rows in self.rows.items():
            if rows:
                if connection.vendor == "postgresql":
                    _copy(model, rows)
                else:
                    model.objects.bulk_create([model(**r) for r in rows], batch_size=2000)
                n += len(rows)
        if skipping:
            _reference_triggers("origin")  # later statements of the transaction: checked
        self.rows = {}
        self.written += n
        return n


def _reference_triggers(role: str) -> bool:
    """``replica``: rows written from now on in the caller's transaction skip ordinary
    triggers (the foreign-key checks; rows written before are still checked at COMMIT);
    ``origin``: back to normal. In a savepoint, so a role without the privilege leaves
    the transaction usable; returns whether the setting was applied."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"SET LOCAL session_replication_role = {role}")
    except DatabaseError:
        log.info("bulk load keeps foreign-key checks: session_replication_role not allowed")
        return False
    return True


def _columns(model: type[models.Model], first: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(column, attname, default) for every column COPY writes.

    The pk and database-defaulted columns are written when the first row has them (all
    rows of a flush are built alike); every other column always, a missing value taking
    the field's default (``Model()`` would give the same)."""
    cols = []
    for f in model._meta.concrete_fields:
        if f.attname not in first and (f.primary_key or f.db_default is not models.NOT_PROVIDED):
            continue  # the database fills it
        default = f.get_default()
        cols.append((f.column, f.attname, default.value if isinstance(default, Enum) else default))
    return cols


def _type_oids(table: str) -> dict[str, int]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT attname, atttypid::int FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [table],
        )
        return dict(cur.fetchall())


def _copy(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` into the model's table in binary format with the columns' types set
    up front, so psycopg's C dumpers encode each value (its per-value Python adaptation
    in text ``write_row`` was most of the client's time). Values are plain Python values
    (a TextChoices member is passed as its value)."""
    cols = _columns(model, rows[0])
    table = model._meta.db_table
    oids = _type_oids(table)
    spec = [(attname, default) for _c, attname, default in cols]
    names = ", ".join(connection.ops.quote_name(c) for c, _, _ in cols)
    quoted = connection.ops.quote_name(table)
    # Django's cursor wraps psycopg's: COPY needs the raw one.
    with (
        connection.cursor() as cur,
        cur.cursor.copy(f"COPY {quoted} ({names}) FROM STDIN (FORMAT BINARY)") as copy,  # noqa: S608
    ):
        copy.set_types([oids[c] for c, _, _ in cols])
        for row in rows:
            get = row.get
            copy.write_row([get(a, d) for a, d in spec])
