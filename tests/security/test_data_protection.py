"""Health data stays in the record: not in logs, not in push payloads; the audit log is
append-only (a PostgreSQL trigger, model guards elsewhere); deployment settings hardened."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import DatabaseError

from bots.runner import make_workers as bot_workers
from escalation.models import Notification
from escalation.runner import make_workers as escalation_workers
from rooms.models import AuditEvent, Message, PushDevice
from rooms.workers import drain
from tests.security.helpers import client_for
from tests.support.cast import T0

# Phrases a workload writes; none may appear outside the record.
PHRASES = [
    "she had a fall on the stairs last night",
    "chest pain after breakfast",
    "her son took her bank card again",
    "unexplained bruising on the left arm",
    "not eating or drinking since Tuesday",
]


def workload(cast) -> None:
    """Chat over HTTP, every worker kind, alerts with push devices, reads of everything."""
    PushDevice.objects.create(
        person=cast.carol, token="fcm-token-" + "c" * 30, token_hash="h" * 64, created_at=T0
    )
    anna, carol, debbie = client_for(cast.anna), client_for(cast.carol), client_for(cast.debbie)
    for i, phrase in enumerate(PHRASES):
        room = cast.family if i % 2 else cast.team
        who = debbie if room == cast.family else anna
        r = who.post(
            f"/api/rooms/{room.id}/messages",
            {"client_id": f"dp-{i}", "body": phrase},
            content_type="application/json",
        )
        assert r.status_code == 201
    r = anna.post(
        f"/api/rooms/{cast.team.id}/messages",
        {"client_id": "dp-bad", "body": PHRASES[0] + "\x00"},
        content_type="application/json",
    )
    assert r.status_code == 422 and PHRASES[0] not in r.content.decode()
    workers = bot_workers() + escalation_workers()
    drain(workers)
    for alert in carol.get("/api/alerts").json():
        carol.get(f"/api/alerts/{alert['id']}")
    for room in (cast.team, cast.family):
        carol.get(f"/api/rooms/{room.id}/messages")


def test_no_message_body_or_health_detail_reaches_the_logs(cast, caplog, frozen_clock):
    with caplog.at_level(logging.DEBUG):
        workload(cast)
    assert Notification.objects.exists()  # the workload did raise alerts
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records).lower()
    assert caplog.records, "the workload should log something"
    for phrase in PHRASES:
        assert phrase.lower() not in text
        assert phrase.split()[-2].lower() + " " + phrase.split()[-1].lower() not in text


def test_push_outbox_rows_carry_ids_and_generic_text_only(cast, frozen_clock):
    workload(cast)
    from escalation.push import GENERIC_BODY, GENERIC_TITLE, payload_for

    rows = list(Notification.objects.filter(channel="push"))
    assert rows
    for n in rows:
        blob = repr(payload_for(n.id)) + GENERIC_TITLE + GENERIC_BODY
        fields = " ".join(str(getattr(n, f.attname)) for f in Notification._meta.fields)
        for phrase in PHRASES:
            assert phrase not in fields and phrase not in blob


def test_audit_events_cannot_be_changed_through_the_model(cast):
    ev = AuditEvent.objects.create(actor=cast.anna, action="room.read", room=cast.team, at=T0)
    ev.action = "nothing"
    with pytest.raises(ValueError, match="append-only"):
        ev.save()
    with pytest.raises(ValueError, match="append-only"):
        ev.delete()


@pytest.mark.services
def test_audit_events_cannot_be_updated_or_deleted_even_in_sql(cast):
    if connection.vendor != "postgresql":
        from tests.support.services import missing

        missing("PostgreSQL (the append-only trigger)")
    ev = AuditEvent.objects.create(actor=cast.anna, action="room.read", room=cast.team, at=T0)
    for attempt in (
        lambda: AuditEvent.objects.filter(pk=ev.pk).update(action="x"),
        lambda: AuditEvent.objects.filter(pk=ev.pk).delete(),
        lambda: connection.cursor().execute("UPDATE rooms_auditevent SET target = 'x'"),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    assert AuditEvent.objects.get(pk=ev.pk).action == "room.read"


def test_a_failed_write_leaves_nothing_half_written(cast):
    before = Message.objects.count()
    c = client_for(cast.anna)
    r = c.post(
        f"/api/rooms/{cast.team.id}/messages",
        {"client_id": "half", "body": "x", "reply_to": 999},
        content_type="application/json",
    )
    assert r.status_code == 422
    cast.team.refresh_from_db()
    assert Message.objects.count() == before and cast.team.last_seq == before


def test_passwords_are_hashed_with_argon2(cast):
    assert settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert cast.anna.user.password.startswith("argon2$")


def test_session_and_csrf_cookies_are_hardened():
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE in ("Lax", "Strict")
    assert settings.CSRF_COOKIE_SAMESITE in ("Lax", "Strict")
    assert settings.X_FRAME_OPTIONS == "DENY"
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert "rooms.ratelimit.LoginRateLimitMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def test_production_settings_are_secure_only():
    import os
    import subprocess
    import sys

    from tests.support.services import ROOT

    env = dict(os.environ, COCARE_PRODUCTION="true", COCARE_SECRET_KEY="k" + "9f3aQ-z!" * 8)
    code = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.DEBUG)"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env=env | {"DJANGO_SETTINGS_MODULE": "cocare_chat.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.split() == ["True", "True", "True", "True", "False"], out.stderr
