"""The per-frame session check (``rooms.sessions.alive`` / ``require_alive``, one query)
decides exactly as the watch's batched check (``rooms.sessions.ended``) and as Django's
``get_user`` would: the row exists and has not expired, it names this user and a
configured backend, the user is active, and the auth hash matches (or matches one made
with a key in ``SECRET_KEY_FALLBACKS``).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from rooms.sessions import (
    SessionEnded,
    SessionRef,
    alive,
    do_deactivate_person,
    ended,
    require_alive,
)
from tests.support.cast import build_cast

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-pass-Qz7!"


def signed_in(person) -> SessionRef:
    c = Client()
    c.force_login(person.user)
    return SessionRef(key=c.cookies["sessionid"].value, user_pk=str(person.user_id))


def test_one_session_is_checked_in_one_query_and_agrees_with_the_batch(
    django_assert_num_queries, settings
):
    cast = build_cast()
    people = [cast.anna, cast.margaret, cast.nadia, cast.tom, cast.carol, cast.debbie]
    refs = {p.id: signed_in(p) for p in people}
    valid = signed_in(cast.colin)
    Session.objects.filter(pk=refs[cast.anna.id].key).delete()  # signed out
    Session.objects.filter(pk=refs[cast.margaret.id].key).update(  # expired
        expire_date=timezone.now() - timezone.timedelta(seconds=1)
    )
    do_deactivate_person(cast.nadia, by=cast.carol)  # deactivated
    tom = get_user_model().objects.get(pk=cast.tom.user_id)
    tom.set_password(NEW_PASSWORD)  # password changed elsewhere
    tom.save()
    # The carol session's row, but named for another user than it signed in.
    wrong_user = SessionRef(key=refs[cast.carol.id].key, user_pk=str(cast.debbie.user_id))
    # Odd input: a user key that is not a number, and an unknown session key.
    not_a_pk = SessionRef(key=refs[cast.carol.id].key, user_pk="1; DROP TABLE x")
    unknown = SessionRef(key="no-such-session", user_pk=str(cast.carol.user_id))
    # A session whose backend is no longer configured.
    store = SessionStore(session_key=refs[cast.debbie.id].key)
    store[BACKEND_SESSION_KEY] = "somewhere.else.Backend"
    store.save()

    cases = [*refs.values(), valid, wrong_user, unknown]
    live = {r for r in cases if r not in ended(cases)}
    assert live == {valid, refs[cast.carol.id]}
    for ref in cases:
        with django_assert_num_queries(1):  # valid or not, one query
            assert alive(ref) == (ref in live), ref
    with django_assert_num_queries(0):  # a user key that cannot be a user is no session
        assert alive(not_a_pk) is False
    assert alive(None) is False

    # A secret key rotated: sessions made with the old key stay valid via the fallback,
    # exactly as Django's get_user keeps them.
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "x" * 40
    assert alive(valid) and not ended([valid])
    settings.SECRET_KEY_FALLBACKS = []
    assert not alive(valid) and ended([valid]) == {valid}


def test_require_alive_refuses_an_ended_session():
    cast = build_cast()
    ref = signed_in(cast.anna)
    require_alive(ref)  # valid: no error
    Session.objects.filter(pk=ref.key).delete()
    with pytest.raises(SessionEnded):
        require_alive(ref)
    with pytest.raises(SessionEnded):
        require_alive(None)
