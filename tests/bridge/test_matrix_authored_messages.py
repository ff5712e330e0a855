"""Against a real Synapse: what CoCare does to a message written in Matrix shows in Matrix,
and what CoCare does not record is said so in Matrix.

A nurse writes from her own Matrix account (matrix-nio). In CoCare she corrects it (she is
the same person: her account is linked), a care manager deletes it as moderation, and she
deletes another one herself. Matrix only lets a user replace her own events, and only the
bridge bot holds the power to redact someone else's.
"""

from __future__ import annotations

import pytest

from bridge.models import EventLink, InboundEvent, OutboxEntry
from rooms.messages import check_post_message
from rooms.models import Message
from tests.bridge.conftest import wait_until
from tests.bridge.nio_helpers import event_as_seen_by, linked_nurse_in_team_room, timeline

pytestmark = [pytest.mark.synapse, pytest.mark.django_db(transaction=True)]


def from_matrix(run, nurse, room_id: str, content: dict) -> tuple[str, Message]:
    event_id = run(nurse.room_send(room_id, "m.room.message", content)).event_id
    link = wait_until(
        lambda: EventLink.objects.filter(event_id=event_id).first(),
        what="the Matrix message in CoCare",
    )
    return event_id, link.message


def redacted(seen: dict) -> bool:
    return seen["content"] == {} and "redacted_because" in seen["unsigned"]


def test_cocare_edits_and_deletes_of_a_matrix_message_are_visible_in_matrix(matrix, cast, run):
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    event_id, msg = from_matrix(run, nurse, room_id, {"msgtype": "m.text", "body": "BP 150/90"})

    # She corrects it in CoCare: Matrix shows the correction as a reply to her message,
    # from her CoCare identity (a replacement from another user would be ignored).
    edit = check_post_message(
        person=cast.nadia, room_id=cast.team.id, kind="edit", target_seq=msg.seq, body="BP 130/90"
    ).message
    bridge.drain()
    correction = next(
        e
        for e in timeline(run, nurse, room_id)
        if e["content"].get("body") == "Edited in CoCare: BP 130/90"
    )
    assert correction["sender"] == matrix.cfg.puppet_user_id(cast.nadia.id)
    assert correction["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": event_id}}
    assert "m.new_content" not in correction["content"]

    # The care manager deletes it (moderation): her event and the correction are redacted
    # by the bridge bot at the first attempt.
    check_post_message(
        person=cast.carol,
        room_id=cast.team.id,
        kind="redaction",
        target_seq=msg.seq,
        client_id="moderate-bp",
    )
    bridge.drain()
    deletion = OutboxEntry.objects.get(message__client_id="moderate-bp")
    assert (deletion.status, deletion.attempts) == ("sent", 1)
    original = event_as_seen_by(matrix, nurse, room_id, event_id)
    assert redacted(original)
    assert original["unsigned"]["redacted_because"]["sender"] == matrix.cfg.bot_user_id
    assert redacted(
        event_as_seen_by(matrix, nurse, room_id, EventLink.objects.get(message=edit).event_id)
    )

    # She deletes another of her Matrix messages in CoCare: gone in Matrix at once.
    other_id, other = from_matrix(
        run, nurse, room_id, {"msgtype": "m.text", "body": "Wrong person, sorry"}
    )
    check_post_message(
        person=cast.nadia,
        room_id=cast.team.id,
        kind="redaction",
        target_seq=other.seq,
        client_id="own-delete",
    )
    bridge.drain()
    assert OutboxEntry.objects.get(message__client_id="own-delete").attempts == 1
    assert redacted(event_as_seen_by(matrix, nurse, room_id, other_id))


def test_content_cocare_does_not_record_gets_a_notice_in_matrix_and_emotes_are_kept(
    matrix, cast, run
):
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    photo = run(
        nurse.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.video", "body": "wound.mp4", "url": "mxc://cocare.test/abc"},
        )
    ).event_id
    wait_until(
        lambda: InboundEvent.objects.filter(event_id=photo).exists(),
        what="the photo at the endpoint",
    )
    _, emote = from_matrix(run, nurse, room_id, {"msgtype": "m.emote", "body": "is on her way"})
    assert emote.body == "* Nadia Rahman is on her way"

    def notice_about(event_id):
        return next(
            (
                e
                for e in timeline(run, nurse, room_id)
                if e["sender"] == matrix.cfg.bot_user_id
                and (e["content"].get("m.relates_to") or {}).get("m.in_reply_to")
                == {"event_id": event_id}
            ),
            None,
        )

    notice = wait_until(
        lambda: notice_about(photo),
        step=bridge.drain,
        what="the bridge bot's notice about the photo",
    )
    assert notice["content"]["msgtype"] == "m.notice"
    assert notice["content"]["body"] == (
        "Not added to the CoCare record: only photos and PDF files "
        "are kept in the CoCare record (not videos or audio)."
    )
    assert notice["content"]["m.mentions"] == {"user_ids": [nurse.user_id]}
    assert not Message.objects.filter(body__contains="wound").exists()
