"""When a signed-in session ends, that person's open sockets end with it.

A session ends when the person signs out, changes their password (Django rotates the
session and every other session's auth hash stops matching), is deactivated, or the
session expires. Two mechanisms close the sockets on it, so either alone is enough:

- **a hint** (``rooms.publish.session_ended_on_commit``, on commit): sign-out names the
  ended session by its :func:`digest`; a password or active-flag change asks each of the
  person's sockets to re-check its own session now. Sent from this module's receivers of
  Django's ``user_logged_out`` and the user model's ``post_save`` — their only effect is
  the hint, inside rooms — and from :func:`do_deactivate_person`.
- **a backstop** that needs no hint: the per-process access watch (rooms/accesswatch.py)
  checks every socket's session with :func:`ended`, in two queries per tick whatever the
  number of sockets. A lost hint, an expiry, or a change made by another process closes
  the socket within one tick (0.5 s).

A session is valid exactly when ``django.contrib.auth.get_user`` would still accept it:
the row exists and has not expired, it names this user and a configured backend, the user
is active, and its auth hash matches the user's current one (or one made with a key in
``SECRET_KEY_FALLBACKS``). Sessions are Django's database sessions (the default
``SESSION_ENGINE``); they expire on the session engine's own clock (wall time).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from rooms import audit, publish
from rooms.models import Person


def digest(session_key: str) -> str:
    """A session key as it may travel on the channel layer: a keyed hash, not the key."""
    return salted_hmac("cocare.session-ended", session_key, algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class SessionRef:
    """The session a socket was opened with: its key and the user it signed in."""

    key: str
    user_pk: str

    @property
    def digest(self) -> str:
        return digest(self.key)


def ref_for(scope) -> SessionRef | None:
    """The session of a websocket's scope (after Channels' session and auth middleware)."""
    user = scope.get("user")
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    if not key or user is None or not user.is_authenticated:
        return None
    return SessionRef(key=key, user_pk=str(user.pk))


def _session_model():
    return import_module(settings.SESSION_ENGINE).SessionStore.get_model_class()


def _decode(data: str) -> dict:
    return import_module(settings.SESSION_ENGINE).SessionStore().decode(data)


def ended(refs: Iterable[SessionRef], now: dt.datetime | None = None) -> set[SessionRef]:
    """Which of ``refs`` are no longer valid sessions — two queries for any number.

    ``now`` defaults to the session engine's clock (wall time), which decides expiry.
    """
    refs = set(refs)
    if not refs:
        return set()
    now = now or timezone.now()
    rows = dict(
        _session_model()
        .objects.filter(
            session_key__in={r.key for r in refs},
            expire_date__gt=now,
        )
        .values_list("session_key", "session_data")
    )
    user_model = get_user_model()
    users = {
        str(u.pk): u
        for u in user_model._default_manager.filter(
            pk__in={r.user_pk for r in refs},
            is_active=True,
        ).only("pk", "password", "is_active")
    }
    return {r for r in refs if not _valid(r, rows.get(r.key), users.get(r.user_pk))}


def _valid(ref: SessionRef, data: str | None, user) -> bool:
    if data is None or user is None:
        return False
    session = _decode(data)
    if str(session.get(SESSION_KEY)) != ref.user_pk:
        return False
    if session.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return False
    stored = session.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(stored, h) for h in hashes)


class SessionEnded(Exception):
    """The socket's session is no longer valid: it must sign out, not answer the frame."""


@functools.cache
def _alive_sql() -> str:
    session, user = _session_model()._meta, get_user_model()._meta  # type: ignore[no-untyped-call]
    return (
        f"SELECT s.{session.get_field('session_data').column},"  # noqa: S608 (fixed names)
        f" u.{user.get_field('password').column}"
        f" FROM {session.db_table} s JOIN {user.db_table} u"
        f" ON u.{user.pk.column} = %s AND u.{user.get_field('is_active').column} = %s"
        f" WHERE s.{session.pk.column} = %s AND s.{session.get_field('expire_date').column} > %s"
    )


def alive(ref: SessionRef | None, now: dt.datetime | None = None) -> bool:
    """Whether one socket's session is still valid — one query (the session row joined
    to its active user), then the same check as :func:`ended` (``_valid``)."""
    if ref is None:
        return False
    user_model = get_user_model()
    try:
        user_pk = user_model._meta.pk.to_python(ref.user_pk)
    except ValidationError:
        return False
    with connection.cursor() as cur:
        expiry = connection.ops.adapt_datetimefield_value(now or timezone.now())
        cur.execute(_alive_sql(), [user_pk, True, ref.key, expiry])
        row = cur.fetchone()
    if row is None:
        return False
    data, password = row
    # Only what ``get_session_auth_hash`` reads: the primary key and the password hash.
    user = user_model(pk=user_pk, password=password, is_active=True)
    return _valid(ref, data, user)


def require_alive(ref: SessionRef | None) -> None:
    """Raise ``SessionEnded`` unless ``ref`` is a valid session. Called inside the thread
    hop of each frame that reads or writes (subscribe, send, edit, redact, read), before
    its work: such a frame is refused even before the socket closes, at the cost of one
    query and no extra hop."""
    if not alive(ref):
        raise SessionEnded


# ---- hints ---------------------------------------------------------------------------


def _person_id(user_pk) -> int | None:
    return Person.objects.filter(user_id=user_pk).values_list("pk", flat=True).first()


def on_logged_out(sender, request, user, **kwargs) -> None:
    """``user_logged_out`` (before Django flushes the session): close the sockets opened
    with this session. Other sessions of the person stay signed in, as in Django."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if user is None or not key:
        return
    person_id = _person_id(user.pk)
    if person_id is not None:
        publish.session_ended_on_commit(person_id, digest(key))


def on_user_saved(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """User ``post_save`` that may change the password or the active flag: the person's
    sockets re-check their sessions (a changed password invalidates the others' auth
    hash; an inactive user has no valid session). ``last_login`` updates are skipped."""
    if created or (
        update_fields is not None and not {"password", "is_active"} & set(update_fields)
    ):
        return
    person_id = _person_id(instance.pk)
    if person_id is not None:
        publish.session_ended_on_commit(person_id)


# ---- actions -------------------------------------------------------------------------


def do_deactivate_person(
    person: Person, *, by: Person | None, now: dt.datetime | None = None
) -> bool:
    """Stop ``person`` signing in: their user becomes inactive and every open socket of
    theirs closes (the user ``post_save`` hint, and the watch as backstop). Audited as
    ``person.deactivated``. Idempotent: returns False (and writes nothing) if the person
    has no account or is already inactive."""
    user_model = get_user_model()
    with transaction.atomic():
        user = (
            user_model._default_manager.select_for_update()
            .filter(pk=person.user_id, is_active=True)
            .first()
        )
        if user is None:
            return False
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit.record(by, "person.deactivated", target=f"person:{person.pk}", now=now)
    return True
