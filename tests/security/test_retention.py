"""Retention per provider with legal hold; deletion reaches live clients and the Matrix outbox."""

from __future__ import annotations

import datetime as dt

from bridge.outbound import OutboxConsumer
from bridge.render import render
from rooms.messages import check_post_message
from rooms.models import Message
from rooms.retention import apply_retention, place_hold, release_hold, set_policy
from rooms.wire import message_wire
from tests.support.cast import T0

DAY = dt.timedelta(days=1)


def post(cast, person, room, body, at, **kw):
    return check_post_message(person=person, room_id=room.id, body=body, now=at, **kw).message


def test_expired_content_is_purged_and_redacted_through_the_write_path(cast):
    set_policy(cast.provider, 30, now=T0)
    old = post(cast, cast.anna, cast.team, "Catheter leaking again", T0)
    post(
        cast,
        cast.anna,
        cast.team,
        "Catheter leaking (edited)",
        T0 + dt.timedelta(hours=1),
        kind="edit",
        target_seq=old.seq,
    )
    recent = post(cast, cast.anna, cast.team, "Fresh dressing applied", T0 + 20 * DAY)
    result = apply_retention(T0 + 35 * DAY)
    assert result.purged == 1 and result.redactions == 1
    old.refresh_from_db()
    assert (old.body, old.edited_body, old.payload) == ("", None, {})
    assert old.redacted_at is not None and message_wire(old)["body"] == ""
    # The edit that carried the amended text is emptied with its target.
    assert not Message.objects.filter(body__icontains="catheter").exists()
    red = Message.objects.get(kind="redaction")
    assert red.target_id == old.id and red.client_id == f"retention:{old.id}"
    recent.refresh_from_db()
    assert recent.body == "Fresh dressing applied"
    # Idempotent: a second run finds nothing and writes nothing.
    n = Message.objects.count()
    assert apply_retention(T0 + 36 * DAY).purged == 0
    assert Message.objects.count() == n


def test_a_legal_hold_keeps_everything_until_released(cast):
    set_policy(cast.provider, 7, now=T0)
    msg = post(cast, cast.debbie, cast.family, "Mum seemed confused", T0)
    place_hold(cast.peggy, by=cast.carol, reason="Safeguarding enquiry S42", now=T0)
    place_hold(cast.peggy, by=cast.carol, reason="again", now=T0)  # idempotent
    assert apply_retention(T0 + 60 * DAY).purged == 0
    msg.refresh_from_db()
    assert msg.body == "Mum seemed confused"
    release_hold(cast.peggy, now=T0 + 61 * DAY)
    assert apply_retention(T0 + 62 * DAY).purged == 1
    msg.refresh_from_db()
    assert msg.body == ""


def test_policy_is_per_provider_and_none_keeps_forever(cast):
    set_policy(cast.provider, None, now=T0)
    post(cast, cast.anna, cast.team, "Kept", T0)
    set_policy(cast.other_provider, 1, now=T0)
    assert apply_retention(T0 + 3650 * DAY).purged == 0


def test_user_deleted_messages_lose_their_stored_body_too(cast):
    set_policy(cast.provider, 30, now=T0)
    m = post(cast, cast.anna, cast.team, "Wrong person's obs", T0)
    post(cast, cast.anna, cast.team, "", T0, kind="redaction", target_seq=m.seq, client_id="del-1")
    m.refresh_from_db()
    assert m.body == "Wrong person's obs"  # a redaction hides; the body is still stored
    apply_retention(T0 + 31 * DAY)
    m.refresh_from_db()
    assert m.body == ""
    assert Message.objects.filter(kind="redaction").count() == 1  # no second redaction


def test_the_retention_redaction_becomes_a_matrix_redaction(cast):
    set_policy(cast.provider, 30, now=T0)
    old = post(cast, cast.anna, cast.team, "Bruising on left arm", T0)
    OutboxConsumer().run_once(T0)
    apply_retention(T0 + 31 * DAY)
    OutboxConsumer().run_once(T0 + 31 * DAY)
    red = Message.objects.get(kind="redaction")
    from bridge.models import OutboxEntry

    entry = OutboxEntry.objects.get(message=red)
    assert entry.txn_id == f"cocare-{red.id}"
    rendered = render(
        kind="redaction",
        body="",
        payload={},
        txn_id=entry.txn_id,
        target_event_id="$original",
        reply_event_id=None,
        answered_label=None,
    )
    assert rendered.action == "redact" and rendered.target_event_id == "$original"
    assert OutboxEntry.objects.filter(message=old).exists()
