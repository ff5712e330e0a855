"""Matrix -> CoCare without a homeserver: the appservice endpoint and event processing."""

from __future__ import annotations

import json

import pytest

from bridge import conf
from bridge.inbound import client_id_for, process_transaction, strip_reply_fallback
from bridge.models import (
    AppserviceTransaction,
    BridgeAction,
    BridgedRoom,
    EventLink,
    InboundEvent,
    OutboxEntry,
)
from bridge.outbound import OutboxConsumer
from cocare_chat import clock
from rooms.messages import check_post_message, post_message
from rooms.models import Message
from tests.bridge.conftest import HS_TOKEN, make_config
from tests.support.cast import T0

NADIA = "@nadia:cocare.test"
ROOM = "!team:cocare.test"
FAMILY = "!family:cocare.test"


@pytest.fixture
def linked(cast):
    cast.nadia.matrix_id = NADIA
    cast.nadia.save()
    BridgedRoom.objects.create(room=cast.team, matrix_room_id=ROOM, created_at=T0)
    BridgedRoom.objects.create(room=cast.family, matrix_room_id=FAMILY, created_at=T0)
    return cast


def text(event_id, body, sender=NADIA, room=ROOM, **content):
    return {
        "event_id": event_id,
        "room_id": room,
        "sender": sender,
        "type": "m.room.message",
        "origin_server_ts": 1,
        "unsigned": {"age": 5},
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def run(events, txn="t1"):
    return process_transaction(txn, events, make_config(), T0)


def test_a_linked_members_message_is_posted_as_her_once(linked):
    run([text("$e1", "BP 120/80, dressing changed")])
    run([text("$e1", "BP 120/80, dressing changed")], txn="t2")  # redelivered in a new txn
    msgs = list(Message.objects.filter(room=linked.team))
    assert [(m.sender_id, m.body, m.client_id) for m in msgs] == [
        (linked.nadia.id, "BP 120/80, dressing changed", client_id_for("$e1"))
    ]
    assert EventLink.objects.get(event_id="$e1").message == msgs[0]
    assert InboundEvent.objects.get(event_id="$e1").outcome == "posted"


def test_a_retried_transaction_is_acknowledged_without_effect(linked):
    assert run([text("$e1", "one")]) == 1
    assert run([text("$e1", "one")]) == 0  # the homeserver retries the same txn
    assert Message.objects.count() == 1


def test_a_reused_transaction_id_after_a_homeserver_restart_still_delivers_its_events(linked):
    # Synapse on SQLite numbers transactions from 1 again after a restart: the id is
    # not a dedupe key, the event ids are.
    assert run([text("$e1", "before the restart")], txn="1") == 1
    assert (
        run(
            [
                text("$e2", "after the restart"),
                {
                    "event_id": "$j",
                    "room_id": FAMILY,
                    "sender": "@mallory:elsewhere.org",
                    "type": "m.room.member",
                    "state_key": "@mallory:elsewhere.org",
                    "content": {"membership": "join"},
                },
            ],
            txn="1",
        )
        == 2
    )
    assert list(Message.objects.order_by("seq").values_list("body", flat=True)) == [
        "before the restart",
        "after the restart",
    ]
    assert BridgeAction.objects.get(kind="kick").user_id == "@mallory:elsewhere.org"
    assert AppserviceTransaction.objects.get(txn_id="1").events == 2


def test_reply_edit_and_redaction_map_to_cocare_seqs(linked):
    anna = check_post_message(person=linked.anna, room_id=linked.team.id, body="Peggy fell").message
    EventLink.objects.create(event_id="$anna", message=anna, direction="out")
    run(
        [
            text(
                "$r",
                "> <@cocare_1:cocare.test> Peggy fell\n\nI'll visit at 2",
                **{"m.relates_to": {"m.in_reply_to": {"event_id": "$anna"}}},
            )
        ],
        txn="a",
    )
    reply = Message.objects.get(client_id=client_id_for("$r"))
    assert (reply.body, reply.reply_to_id) == ("I'll visit at 2", anna.id)
    run(
        [
            text(
                "$ed",
                "* at 3",
                **{
                    "m.new_content": {"msgtype": "m.text", "body": "at 3"},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": "$r"},
                },
            )
        ],
        txn="b",
    )
    reply.refresh_from_db()
    assert reply.current_body == "at 3"
    run(
        [
            {
                "event_id": "$x",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.room.redaction",
                "redacts": "$r",
                "content": {},
            }
        ],
        txn="c",
    )
    reply.refresh_from_db()
    assert reply.redacted_at is not None
    kinds = list(
        Message.objects.filter(sender=linked.nadia).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["text", "edit", "redaction"]


def test_she_cannot_redact_someone_elses_message_from_matrix(linked):
    anna = check_post_message(person=linked.anna, room_id=linked.team.id, body="x").message
    EventLink.objects.create(event_id="$anna", message=anna, direction="out")
    run(
        [
            {
                "event_id": "$x",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.room.redaction",
                "content": {"redacts": "$anna"},
            }
        ]
    )
    anna.refresh_from_db()
    assert anna.redacted_at is None
    assert InboundEvent.objects.get(event_id="$x").outcome == "refused"


def notices():
    return {
        a.key.split(":")[0] + ":" + a.reply_to_event_id: a.body
        for a in BridgeAction.objects.filter(kind="notice")
    }


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (
            {"msgtype": "m.video", "body": "walk.mp4", "url": "mxc://x/y"},
            "only photos and PDF files are kept in the CoCare record (not videos or audio).",
        ),
        (
            {"msgtype": "m.image", "body": "IMG_1.jpg", "file": {"url": "mxc://x/z"}},
            "encrypted files cannot be read by the bridge.",
        ),
        (
            {"msgtype": "m.location", "body": "here", "geo_uri": "geo:1,2"},
            "this kind of message (m.location) cannot be recorded in CoCare.",
        ),
    ],
)
def test_content_cocare_does_not_keep_gets_a_notice_in_reply_saying_why(linked, content, why):
    run(
        [
            {
                "event_id": "$m",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.room.message",
                "content": content,
            }
        ]
    )
    assert Message.objects.count() == 0
    assert InboundEvent.objects.get(event_id="$m").outcome == "refused"
    action = BridgeAction.objects.get()
    assert (action.kind, action.user_id, action.reply_to_event_id) == ("notice", NADIA, "$m")
    assert action.body == f"Not added to the CoCare record: {why}"


def test_an_over_long_message_is_refused_whole_with_a_notice_never_cut(linked, settings):
    from cocare_chat.config import get_config

    limit = get_config().max_message_chars
    run([text("$long", "x" * (limit + 1))])
    assert Message.objects.count() == 0
    assert notices() == {
        "drop:$long": (
            f"Not added to the CoCare record: the message is {limit + 1} characters long; "
            f"CoCare keeps messages of up to {limit}. Please send it in shorter parts."
        )
    }


def test_an_emote_is_recorded_as_an_action_line_of_its_author(linked):
    run([text("$em", "is on her way", msgtype="m.emote")])
    assert Message.objects.get().body == "* Nadia Rahman is on her way"
    assert not BridgeAction.objects.exists()


def test_a_refused_amendment_and_an_unknown_poll_get_notices(linked):
    anna = check_post_message(person=linked.anna, room_id=linked.team.id, body="x").message
    EventLink.objects.create(event_id="$anna", message=anna, direction="out")
    run(
        [
            text(
                "$ed",
                "* y",
                **{
                    "m.new_content": {"msgtype": "m.text", "body": "y"},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": "$anna"},
                },
            ),
            text(
                "$ed2",
                "* z",
                **{
                    "m.new_content": {"msgtype": "m.text", "body": "z"},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": "$gone"},
                },
            ),
            {
                "event_id": "$p",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.poll.response",
                "content": {
                    "m.relates_to": {"rel_type": "m.reference", "event_id": "$anna"},
                    "m.selections": ["1"],
                },
            },
        ]
    )
    assert notices() == {
        "drop:$ed": "Not added to the CoCare record: You can only change your own messages.",
        "drop:$ed2": "Not added to the CoCare record: the edited message is not in the "
        "CoCare record.",
        "drop:$p": "Not added to the CoCare record: that poll is not a CoCare card.",
    }
    anna.refresh_from_db()
    assert anna.edited_body is None


def test_reactions_get_one_notice_per_person_and_room(linked):
    anna = check_post_message(person=linked.anna, room_id=linked.team.id, body="x").message
    EventLink.objects.create(event_id="$anna", message=anna, direction="out")
    run(
        [
            {
                "event_id": f"$r{i}",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.reaction",
                "content": {
                    "m.relates_to": {"rel_type": "m.annotation", "event_id": "$anna", "key": "👍"}
                },
            }
            for i in range(3)
        ]
    )
    assert BridgeAction.objects.filter(kind="notice").count() == 1


def test_unlinked_users_never_reach_the_record_and_get_a_notice(linked):
    run([text("$m", "let me in", sender="@mallory:elsewhere.org")])
    assert Message.objects.count() == 0
    assert InboundEvent.objects.get(event_id="$m").outcome == "refused"
    action = BridgeAction.objects.get()
    assert (action.kind, action.user_id, action.matrix_room_id) == (
        "notice",
        "@mallory:elsewhere.org",
        ROOM,
    )


def test_a_linked_person_without_access_to_that_room_is_refused(linked):
    # Nadia is a nurse: the family room is not hers even though her account is linked.
    run([text("$f", "hello family", room=FAMILY)])
    assert Message.objects.count() == 0
    assert BridgeAction.objects.filter(kind="notice").count() == 1


def test_intruders_joining_a_bridged_room_are_queued_for_a_kick(linked):
    run(
        [
            {
                "event_id": "$j1",
                "room_id": FAMILY,
                "sender": NADIA,
                "type": "m.room.member",
                "state_key": NADIA,
                "content": {"membership": "join"},
            },
            {
                "event_id": "$j2",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.room.member",
                "state_key": NADIA,
                "content": {"membership": "join"},
            },
        ]
    )
    kicks = list(BridgeAction.objects.filter(kind="kick").values_list("matrix_room_id", flat=True))
    assert kicks == [FAMILY]


def test_echoes_of_our_puppets_are_ignored_and_confirm_an_uncertain_send(linked):
    m = post_message(room=linked.team, sender=linked.anna, body="hi", now=T0)
    OutboxConsumer().run_once(T0)
    entry = OutboxEntry.objects.get(message=m.message)
    run([text("$echo", "hi", sender="@cocare_1:cocare.test", **{"org.cocare.txn": entry.txn_id})])
    entry.refresh_from_db()
    assert (entry.status, entry.event_id) == ("sent", "$echo")
    assert Message.objects.count() == 1


def test_messages_from_matrix_are_not_sent_back(linked):
    run([text("$e1", "from element")])
    post_message(room=linked.team, sender=linked.anna, body="from cocare", now=T0)
    OutboxConsumer().run_once(T0)
    assert [e.message.body for e in OutboxEntry.objects.all()] == ["from cocare"]


def test_one_malformed_event_does_not_block_the_others(linked):
    run(
        [
            {
                "event_id": "$bad",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.room.message",
                "content": {"msgtype": "m.text"},
            },  # no body
            {"nonsense": True},
            text("$ok", "fine"),
        ]
    )
    assert list(Message.objects.values_list("body", flat=True)) == ["fine"]
    assert InboundEvent.objects.get(event_id="$bad").outcome == "refused"


def test_a_poll_response_to_a_card_becomes_an_answer_entry(linked):
    card = post_message(
        room=linked.team,
        sender=linked.bot,
        kind="card",
        payload={
            "card_id": "v1:mood",
            "card_type": "question",
            "title": "How is Peggy's mood?",
            "options": [{"value": 1, "label": "Good"}, {"value": 3, "label": "Low"}],
        },
        now=T0,
    )
    EventLink.objects.create(event_id="$card", message=card.message, direction="out")
    run(
        [
            {
                "event_id": "$p",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "org.matrix.msc3381.poll.response",
                "content": {
                    "m.relates_to": {"rel_type": "m.reference", "event_id": "$card"},
                    "org.matrix.msc3381.poll.response": {"answers": ["3"]},
                },
            }
        ]
    )
    answer = Message.objects.get(kind="answer")
    assert (answer.sender_id, answer.payload) == (
        linked.nadia.id,
        {"card_id": "v1:mood", "value": 3, "via": "matrix"},
    )


def test_a_stable_poll_response_with_m_selections_becomes_an_answer_entry(linked):
    # Stable MSC3381: type m.poll.response, "m.selections" is a plain list of answer ids.
    card = post_message(
        room=linked.team,
        sender=linked.bot,
        kind="card",
        payload={
            "card_id": "v1:mood",
            "card_type": "question",
            "title": "How is Peggy's mood?",
            "options": [{"value": 1, "label": "Good"}, {"value": 3, "label": "Low"}],
        },
        now=T0,
    )
    EventLink.objects.create(event_id="$card", message=card.message, direction="out")
    run(
        [
            {
                "event_id": "$p",
                "room_id": ROOM,
                "sender": NADIA,
                "type": "m.poll.response",
                "content": {
                    "m.relates_to": {"rel_type": "m.reference", "event_id": "$card"},
                    "m.selections": ["3"],
                },
            }
        ]
    )
    assert InboundEvent.objects.get(event_id="$p").outcome == "posted"
    assert Message.objects.get(kind="answer").payload == {
        "card_id": "v1:mood",
        "value": 3,
        "via": "matrix",
    }


def test_votes_on_a_care_plan_tasks_card_become_one_tap_per_newly_ticked_task(linked):
    card = post_message(
        room=linked.team,
        sender=linked.bot,
        kind="card",
        payload={
            "card_id": "tasks:9",
            "card_type": "visit_tasks",
            "title": "Morning visit: 3 tasks",
            "options": [
                {"value": 0, "label": "Medication"},
                {"value": 1, "label": "Breakfast"},
                {"value": 2, "label": "Shower"},
            ],
        },
        now=T0,
    )
    EventLink.objects.create(event_id="$tasks", message=card.message, direction="out")

    def vote(event_id, *values, txn):
        run(
            [
                {
                    "event_id": event_id,
                    "room_id": ROOM,
                    "sender": NADIA,
                    "type": "org.matrix.msc3381.poll.response",
                    "content": {
                        "m.relates_to": {"rel_type": "m.reference", "event_id": "$tasks"},
                        "org.matrix.msc3381.poll.response": {"answers": list(values)},
                    },
                }
            ],
            txn=txn,
        )

    vote("$v1", "0", txn="a")
    vote("$v2", "0", "2", txn="b")  # Element sends the whole selection each time
    vote("$v2", "0", "2", txn="c")  # redelivered
    vote("$v3", "2", txn="d")  # un-ticking "0" in Matrix does not untick it in CoCare
    ticks = Message.objects.filter(kind="answer").order_by("seq")
    assert [m.payload["value"] for m in ticks] == [0, 2]
    assert {m.sender_id for m in ticks} == {linked.nadia.id}
    assert not BridgeAction.objects.filter(kind="notice").exists()


def test_strip_reply_fallback():
    assert strip_reply_fallback("> <@a:b> hi\n> more\n\nreal") == "real"
    assert strip_reply_fallback("plain > text") == "plain > text"


# --- the HTTP endpoint ---


@pytest.fixture
def endpoint(monkeypatch, linked):
    monkeypatch.setattr(conf, "load", make_config)
    clock.freeze(T0)
    return linked


def put(client, path, body, token=HS_TOKEN, header=True):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if header and token else {}
    if not header and token:
        path += f"?access_token={token}"
    return client.put(
        path,
        data=json.dumps(body) if not isinstance(body, bytes) else body,
        content_type="application/json",
        **kwargs,
    )


def test_endpoint_refuses_missing_or_wrong_hs_token(client, endpoint):
    url = "/_matrix/app/v1/transactions/1"
    assert put(client, url, {"events": []}, token=None).status_code == 401
    r = put(client, url, {"events": [text("$e", "x")]}, token="wrong-" + "x" * 20)
    assert (r.status_code, r.json()["errcode"]) == (403, "M_FORBIDDEN")
    assert Message.objects.count() == 0


def test_endpoint_accepts_both_paths_and_query_token_and_is_idempotent(client, endpoint):
    assert put(client, "/_matrix/app/v1/transactions/7", {"events": [text("$e", "x")]}).json() == {}
    assert (
        put(client, "/transactions/7", {"events": [text("$e", "x")]}, header=False).status_code
        == 200
    )
    assert Message.objects.count() == 1


def test_endpoint_answers_bad_json_with_a_matrix_error(client, endpoint):
    r = put(client, "/_matrix/app/v1/transactions/8", b"{not json")
    assert (r.status_code, r.json()["errcode"]) == (400, "M_BAD_JSON")
    r = put(client, "/_matrix/app/v1/transactions/8", {"events": "nope"})
    assert r.status_code == 400
    assert client.get("/_matrix/app/v1/transactions/8").status_code == 405
