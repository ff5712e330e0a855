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

import json
from collections.abc import Callable
from enum import Enum
from typing import Any

from django.db import connection, models

ID_BLOCK = 20_000


class BulkLoader:
    def __init__(self, *, flush_rows: int = 100_000) -> None:
        self.flush_rows = flush_rows
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

    def flush_if_full(self) -> bool:
        if self.pending() < self.flush_rows:
            return False
        self.flush()
        return True

    def flush(self) -> int:
        """Write every buffered row; returns how many. Call inside the caller's transaction."""
        n = 0
        for model, rows in self.rows.items():
            if rows:
                if connection.vendor == "postgresql":
                    _copy(model, rows)
                else:
                    model.objects.bulk_create([model(**r) for r in rows], batch_size=2000)
                n += len(rows)
        self.rows = {}
        self.written += n
        return n


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"
_MISSING = object()


def _str(v: Any) -> str:
    return NULL if v is None else str(v).translate(_ESCAPES)


def _datetime(v: Any) -> str:
    return NULL if v is None else v.isoformat()


def _bool(v: Any) -> str:
    return NULL if v is None else ("t" if v else "f")


def _json(v: Any) -> str:
    return NULL if v is None else json.dumps(v, separators=(",", ":")).translate(_ESCAPES)


def _plain(v: Any) -> str:
    return NULL if v is None else str(v.value if isinstance(v, Enum) else v)


def _encoder(f: models.Field) -> Callable[[Any], str]:
    """The COPY text encoder for a field's values, chosen once per column."""
    if isinstance(f, models.JSONField):
        return _json
    if isinstance(f, models.BooleanField):
        return _bool
    if isinstance(f, models.DateTimeField | models.DateField):
        return _datetime
    if isinstance(f, models.CharField | models.TextField):
        return _str  # str(): a TextChoices member is its value
    return _plain


def _columns(model: type[models.Model], first: dict[str, Any]):
    """(column, attname, encoder, encoded default) for every column COPY writes.

    The pk and database-defaulted columns are written when the first row has them (all
    rows of a flush are built alike); every other column always, a missing value taking
    the field's default (``Model()`` would give the same)."""
    cols = []
    for f in model._meta.concrete_fields:
        if f.attname not in first and (f.primary_key or f.db_default is not models.NOT_PROVIDED):
            continue  # the database fills it
        enc = _encoder(f)
        cols.append((f.column, f.attname, enc, enc(f.get_default())))
    return cols


def _copy(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` into the model's table in COPY's text format, encoded here with one
    encoder per column (psycopg's per-value adaptation in ``write_row`` was most of the
    client's time)."""
    cols = _columns(model, rows[0])
    spec = [(attname, enc, default) for _c, attname, enc, default in cols]
    names = ", ".join(connection.ops.quote_name(c) for c, _, _, _ in cols)
    table = connection.ops.quote_name(model._meta.db_table)
    # Django's cursor wraps psycopg's: COPY needs the raw one.
    with (
        connection.cursor() as cur,
        cur.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,  # noqa: S608
    ):
        lines = []
        for row in rows:
            get = row.get
            lines.append(
                "\t".join(
                    [d if (v := get(a, _MISSING)) is _MISSING else enc(v) for a, enc, d in spec]
                )
            )
            if len(lines) >= 5000:
                copy.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            copy.write("\n".join(lines) + "\n")
