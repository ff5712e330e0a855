"""Against a real Synapse: deleted and expired content leaves no readable copy in Matrix.

A redaction in Matrix does not touch the ``m.replace`` events that edited the original,
and each edit carries the amended text. A deletion in CoCare must therefore redact the
edits too; retention must also reach the bot's cards and system notices.
"""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from bots.runner import make_workers
from bridge.models import EventLink
from cocare_chat import clock
from rooms.messages import check_post_message
from rooms.models import Message
from rooms.retention import apply_retention, set_policy
from rooms.workers import drain
from tests.bots.helpers import HOME, say
from tests.bridge.nio_helpers import linked_nurse_in_team_room

pytestmark = [pytest.mark.synapse, pytest.mark.django_db(transaction=True)]


def event_as_seen_by(matrix, client, room_id: str, message: Message) -> dict:
    """The Matrix event bridged from ``message``, fetched by the nurse from Synapse."""
    event_id = EventLink.objects.get(message=message).event_id
    r = httpx.get(
        f"{matrix.synapse.url}/_matrix/client/v3/rooms/{room_id}/event/{event_id}",
        headers={"Authorization": f"Bearer {client.access_token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_deleted_edited_message_and_expired_cards_leave_no_text_in_matrix(matrix, cast, run):
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)

    # A check-in: the bot's notice and the key-information card cross to Matrix.
    bots = make_workers()
    say(cast.anna, cast.team, "Check in", location=HOME)
    drain(bots)
    bot_entries = list(
        Message.objects.filter(room=cast.team, sender=cast.bot, kind__in=["system", "card"])
    )
    assert {m.kind for m in bot_entries} == {"system", "card"}

    original = check_post_message(
        person=cast.anna, room_id=cast.team.id, body="Catheter leaking again"
    ).message
    edit = check_post_message(
        person=cast.anna,
        room_id=cast.team.id,
        kind="edit",
        target_seq=original.seq,
        body="Catheter leaking, GP called",
    ).message
    bridge.drain()
    assert event_as_seen_by(matrix, nurse, room_id, edit)["content"]["m.new_content"] == {
        "msgtype": "m.text",
        "body": "Catheter leaking, GP called",
    }
    for m in bot_entries:
        assert event_as_seen_by(matrix, nurse, room_id, m)["content"].get("body")
    # The key-information card crosses with its content, but never the access notes
    # (Peggy's key-safe code): see docs/matrix.md, Decisions.
    key_card = next(m for m in bot_entries if m.kind == "card")
    key_content = event_as_seen_by(matrix, nurse, room_id, key_card)["content"]
    assert "Preferences: Tea, one sugar" in key_content["body"].splitlines()
    assert "4411" not in str(key_content)

    # Anna deletes her message: the original and its edit are both redacted in Matrix.
    check_post_message(
        person=cast.anna,
        room_id=cast.team.id,
        kind="redaction",
        target_seq=original.seq,
        client_id="delete-catheter",
    )
    bridge.drain()
    for m in (original, edit):
        seen = event_as_seen_by(matrix, nurse, room_id, m)
        assert seen["content"] == {}, seen
        assert "redacted_because" in seen["unsigned"]

    # A year on, retention purges the visit's entries; their Matrix copies go too.
    set_policy(cast.provider, 30, now=clock.now())
    result = apply_retention(clock.now() + dt.timedelta(days=365))
    assert result.redactions >= len(bot_entries)
    bridge.drain()
    for m in bot_entries:
        seen = event_as_seen_by(matrix, nurse, room_id, m)
        assert seen["content"] == {}, (m.kind, seen)
    # Redactions are not repeated: one Matrix redaction per CoCare redaction entry.
    assert apply_retention(clock.now() + dt.timedelta(days=366)).purged == 0
