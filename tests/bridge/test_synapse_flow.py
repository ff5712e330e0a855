"""Against a real Synapse: a linked nurse on matrix-nio and CoCare see the same room."""

from __future__ import annotations

import httpx
import pytest

from bridge.models import BridgedRoom, InboundEvent, MatrixMember, OutboxEntry
from rooms.messages import check_post_message
from rooms.models import Message
from tests.bridge.conftest import AS_TOKEN, wait_until
from tests.bridge.nio_helpers import (
    Bridge,
    display_name,
    linked_nurse_in_team_room,
    nio_client,
    timeline,
)

pytestmark = [pytest.mark.synapse, pytest.mark.django_db(transaction=True)]


def test_a_linked_nurse_sees_cocare_messages_by_puppet_in_order_and_answers_as_herself(
    matrix, cast, run
):
    nurse, bridge, room_id = linked_nurse_in_team_room(
        matrix, cast, run, opening="Arrived at Peggy's"
    )

    sent = [
        (cast.anna, "Peggy ate all her lunch"),
        (cast.carol, "Thanks Anna"),
        (cast.anna, "Leaving now, 12:40"),
    ]
    for person, body in sent:
        check_post_message(person=person, room_id=cast.team.id, body=body)
    bridge.drain()
    seen = timeline(run, nurse, room_id)
    bodies = [(e["sender"], e["content"]["body"]) for e in seen]
    puppet = matrix.cfg.puppet_user_id
    assert bodies[-3:] == [(puppet(p.id), b) for p, b in sent]
    assert display_name(matrix, puppet(cast.anna.id)) == "Anna Kowalski (Care worker)"
    assert display_name(matrix, puppet(cast.carol.id)) == "Carol Evans (Care manager)"

    # Her reply, edit and redaction come back into CoCare as her.
    thanks = next(e for e in seen if e["content"]["body"] == "Thanks Anna")
    r = run(
        nurse.room_send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "I'll check her dressing at 3",
                "m.relates_to": {"m.in_reply_to": {"event_id": thanks["event_id"]}},
            },
        )
    )
    reply_event = r.event_id
    reply = wait_until(
        lambda: Message.objects.filter(sender=cast.nadia, kind="text").first(),
        what="reply in CoCare",
    )
    assert reply.body == "I'll check her dressing at 3"
    assert reply.reply_to.body == "Thanks Anna"
    run(
        nurse.room_send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "* I'll check her dressing at 4",
                "m.new_content": {"msgtype": "m.text", "body": "I'll check her dressing at 4"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": reply_event},
            },
        )
    )
    wait_until(
        lambda: Message.objects.get(pk=reply.pk).current_body == "I'll check her dressing at 4",
        what="edit in CoCare",
    )
    run(nurse.room_redact(room_id, reply_event))
    wait_until(lambda: Message.objects.get(pk=reply.pk).redacted_at, what="redaction")
    assert list(
        Message.objects.filter(sender=cast.nadia).order_by("id").values_list("kind", flat=True)
    ) == [
        "text",
        "edit",
        "redaction",
    ]

    # Nothing she sent is echoed back to Matrix, and CoCare's own echoes are suppressed.
    bridge.drain()
    assert not OutboxEntry.objects.filter(message__sender=cast.nadia).exists()
    seen = timeline(run, nurse, room_id)
    assert [e["content"].get("body") for e in seen].count("Thanks Anna") == 1
    assert InboundEvent.objects.filter(outcome="echo").exists()


def test_an_unlinked_user_never_reaches_cocare_and_the_family_room_keeps_out_strangers(
    matrix, cast, run
):
    nurse = nio_client(matrix, run, "nadia")
    mallory = nio_client(matrix, run, "mallory")
    cast.nadia.matrix_id = nurse.user_id
    cast.nadia.save()
    bridge = Bridge(matrix.cfg)
    check_post_message(person=cast.anna, room_id=cast.team.id, body="Team room open")
    check_post_message(person=cast.debbie, room_id=cast.family.id, body="Hi Mum")
    bridge.drain()
    team = BridgedRoom.objects.get(room=cast.team)
    family = BridgedRoom.objects.get(room=cast.family)
    # The bridge never invites the nurse into the family room.
    assert not MatrixMember.objects.filter(bridged_room=family, user_id=nurse.user_id).exists()

    # Someone with the AS token (a misconfigured admin tool) lets Mallory into the team
    # room and the nurse into the family room; both get in and talk.
    for room, who in ((team, mallory), (family, nurse)):
        r = httpx.post(
            f"{matrix.synapse.url}/_matrix/client/v3/rooms/{room.matrix_room_id}/invite",
            json={"user_id": who.user_id},
            headers={"Authorization": f"Bearer {AS_TOKEN}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        joined = run(who.join(room.matrix_room_id))
        assert getattr(joined, "room_id", None) == room.matrix_room_id, joined
    run(
        mallory.room_send(
            team.matrix_room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "what's the key safe code?"},
        )
    )
    run(
        nurse.room_send(
            family.matrix_room_id, "m.room.message", {"msgtype": "m.text", "body": "hello family"}
        )
    )

    def membership(room, user_id):
        r = httpx.get(
            f"{matrix.synapse.url}/_matrix/client/v3/rooms/{room.matrix_room_id}"
            f"/state/m.room.member/{user_id}",
            headers={"Authorization": f"Bearer {AS_TOKEN}"},
            timeout=10,
        )
        return r.json().get("membership")

    wait_until(
        lambda: (
            membership(team, mallory.user_id) == "leave"
            and membership(family, nurse.user_id) == "leave"
        ),
        step=bridge.drain,
        what="intruders kicked",
    )
    wait_until(
        lambda: (
            InboundEvent.objects.filter(sender=mallory.user_id, outcome="refused").exists()
            and InboundEvent.objects.filter(sender=nurse.user_id, outcome="refused").exists()
        ),
        step=bridge.drain,
        what="messages refused",
    )
    assert not Message.objects.filter(
        body__in=["what's the key safe code?", "hello family"]
    ).exists()
    chunk, _ = bridge.sender.client.recent_events(team.matrix_room_id)
    notices = [e for e in chunk if e["content"].get("msgtype") == "m.notice"]
    assert any(mallory.user_id in e["content"]["body"] for e in notices)
