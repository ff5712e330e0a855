"""Dashboard figures read from a PostgreSQL read replica when one is configured.

``COCARE_REPLICA_DATABASE_URL`` adds a ``replica`` database (cocare_chat/settings.py).
Only the figures go there: code inside ``figures_from_replica()`` (the dashboards'
``data`` functions, decorated with ``@on_replica``) reads every model from the replica;
everything else — access decisions, sessions, the audit rows of a dashboard read, the
chat — reads and writes the primary, so a lagging replica can delay a figure but never
widen access or hide a message. Without a replica the router says nothing and Django uses
``default``. Writes always go to ``default``; the replica is never migrated (it follows the
primary by streaming replication).

The choice is per call, not per model: the dashboards read the same tables (visits,
observations, alerts) the write paths read and lock, which must stay on the primary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.db import connections

REPLICA = "replica"
_reading = ContextVar("dashboards_on_replica", default=False)

P = ParamSpec("P")
R = TypeVar("R")


def configured() -> bool:
    return REPLICA in connections.settings


@contextmanager
def figures_from_replica() -> Iterator[None]:
    """Reads inside this block go to the replica (when there is one)."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def on_replica(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with figures_from_replica():
            return fn(*args, **kwargs)

    return wrapper


class ReplicaRouter:
    """Django database router (settings.DATABASE_ROUTERS)."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return REPLICA if _reading.get() and configured() else None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return None  # default

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the same data on both: rows read from either may be related

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != REPLICA and None
