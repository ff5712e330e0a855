"""Against a real Synapse: wellbeing cards answered from Matrix are the same observations.

A care worker whose own Matrix account is linked starts a visit in CoCare; the bot's
cards reach her Matrix client as polls (with a numbered fallback that tells her, and only
her, how to answer); she answers with a number reply, a poll response and a reply, and
each answer is confirmed in Matrix. A nurse's "2" in the same room stays chat. Her twin
visit, answered by tapping in CoCare, must store exactly the same observations.
"""

from __future__ import annotations

import pytest

from bots.models import BotStep, Observation, Visit
from bots.runner import make_workers
from bridge.models import BridgedRoom, EventLink, InboundEvent
from bridge.render import CARD_KEY, POLL_START
from rooms.models import Message, Role, Room
from rooms.network import do_add_member, do_create_service_user
from rooms.workers import drain
from tests.bots.helpers import HOME, open_card, say, tap
from tests.bridge.conftest import wait_until
from tests.bridge.nio_helpers import Bridge, join_when_invited, nio_client, timeline

pytestmark = [pytest.mark.synapse, pytest.mark.django_db(transaction=True)]

# One answer per card, in card order: option values (the numbers shown in Matrix).
ANSWERS = (2, 3, 1)


def check(worker, room: Room, bots, command: str) -> None:
    """Check in or out in CoCare (the phone's button, with its position); run the bots."""
    say(worker, room, command, location=HOME)
    drain(bots)


def card_in_matrix(run, client, room_id: str, card_id: str, bridge: Bridge) -> dict:
    def find():
        return next(
            (
                e
                for e in timeline(run, client, room_id)
                if (e["content"].get(CARD_KEY) or {}).get("card_id") == card_id
            ),
            None,
        )

    return wait_until(find, step=bridge.drain, what=f"card {card_id} in Matrix")


def answer_from_matrix(run, client, room_id: str, event_type: str, content: dict) -> Message:
    """Send as her Matrix account; the homeserver pushes it to our appservice endpoint."""
    event_id = run(client.room_send(room_id, event_type, content)).event_id
    inbound = wait_until(
        lambda: InboundEvent.objects.filter(event_id=event_id).first(),
        what="the answer at the appservice endpoint",
    )
    assert (inbound.outcome, inbound.reason) == ("posted", "")
    return inbound.message


def confirmation(run, client, room_id: str, bridge: Bridge, reply_to: str) -> str:
    """The bridge bot's notice in reply to ``reply_to``, as the client sees it."""

    def find():
        return next(
            (
                e["content"]["body"]
                for e in timeline(run, client, room_id)
                if (e["content"].get("m.relates_to") or {}).get("m.in_reply_to")
                == {"event_id": reply_to}
                and e["content"].get("msgtype") == "m.notice"
            ),
            None,
        )

    return wait_until(find, step=bridge.drain, what="the answer confirmed in Matrix")


def observations(visit: Visit) -> list[tuple]:
    rows = Observation.objects.filter(service_user_id=visit.service_user_id).order_by(
        "question__card_message__seq"
    )
    return [
        (
            o.domain,
            o.question_key,
            o.question_version,
            o.score,
            o.visit_id == visit.id,
            o.answered_by_id,
        )
        for o in rows
    ]


def flags(room: Room) -> list[tuple]:
    return [
        (m.payload["data"]["concern"], m.payload["data"]["source"])
        for m in Message.objects.filter(room=room, kind="signal").order_by("seq")
    ]


def twin_team_room(cast) -> Room:
    """A second service user like Peggy (no history), with the same worker and bot."""
    twin = do_create_service_user(
        full_name="Joan Hughes",
        preferred_name="Joan",
        provider=cast.provider,
        council=cast.council,
        created_by=cast.carol,
        home_lat=53.4808,
        home_lon=-2.2426,
    )
    team = Room.objects.get(service_user=twin, kind="professional")
    for p in (cast.carol, cast.anna, cast.bot):
        do_add_member(team, p, by=cast.carol, notify=False)
    return team


def test_a_wellbeing_card_answered_from_matrix_is_the_same_observation_as_one_tapped_in_cocare(
    matrix, cast, run
):
    worker = nio_client(matrix, run, "anna")
    nurse = nio_client(matrix, run, "nadia_cards")
    cast.anna.matrix_id = worker.user_id
    cast.anna.save()
    cast.nadia.matrix_id = nurse.user_id
    cast.nadia.save()
    bridge = Bridge(matrix.cfg)
    bots = make_workers()

    # The visit starts in CoCare; the bridged room shows history from her join on.
    check(cast.anna, cast.team, bots, "Check in")
    bridge.drain()
    room_id = BridgedRoom.objects.get(room=cast.team).matrix_room_id
    join_when_invited(run, worker, room_id, bridge)
    join_when_invited(run, nurse, room_id, bridge)
    check(cast.anna, cast.team, bots, "Check out")
    visit = Visit.objects.get(service_user=cast.peggy)

    # Card 1 (the screener), a poll in Matrix; its fallback tells Anna, and only her, how
    # to answer, and mentions her.
    card = open_card(cast.team)
    event = card_in_matrix(run, worker, room_id, card.payload["card_id"], bridge)
    assert (event["type"], event["sender"]) == (POLL_START, matrix.cfg.puppet_user_id(cast.bot.id))
    poll = event["content"][POLL_START]
    second = card.payload["options"][1]
    assert poll["answers"][1] == {
        "id": "2",
        "org.matrix.msc1767.text": f"{second['emoji']} {second['label']}",
    }
    lines = event["content"]["body"].splitlines()
    assert f"2. {second['emoji']} {second['label']}" in lines
    assert lines[-1] == "Anna Kowalski: answer the poll, or reply with a number."
    assert event["content"]["m.mentions"] == {"user_ids": [worker.user_id]}

    # The nurse's "2" is chat: not an answer, not confirmed; the card stays open.
    nurse_two = answer_from_matrix(
        run, nurse, room_id, "m.room.message", {"msgtype": "m.text", "body": "2"}
    )
    drain(bots)
    assert open_card(cast.team).id == card.id
    assert not Observation.objects.exists()

    # Anna replies "2": her answer, confirmed in Matrix in reply to it.
    via_number = answer_from_matrix(
        run, worker, room_id, "m.room.message", {"msgtype": "m.text", "body": str(ANSWERS[0])}
    )
    assert (via_number.sender_id, via_number.kind, via_number.body) == (cast.anna.id, "text", "2")
    drain(bots)
    number_event = EventLink.objects.get(message=via_number).event_id
    assert confirmation(run, worker, room_id, bridge, number_event) == (
        f"Recorded: {second['label']}"
    )
    nurse_event = EventLink.objects.get(message=nurse_two).event_id
    assert not any(
        (e["content"].get("m.relates_to") or {}).get("m.in_reply_to") == {"event_id": nurse_event}
        for e in timeline(run, worker, room_id)
    )

    # Card 2: an MSC3381 poll response to the bridged card.
    card = open_card(cast.team)
    event = card_in_matrix(run, worker, room_id, card.payload["card_id"], bridge)
    via_poll = answer_from_matrix(
        run,
        worker,
        room_id,
        "org.matrix.msc3381.poll.response",
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": event["event_id"]},
            "org.matrix.msc3381.poll.response": {"answers": [str(ANSWERS[1])]},
        },
    )
    assert (via_poll.sender_id, via_poll.kind, via_poll.payload) == (
        cast.anna.id,
        "answer",
        {"card_id": card.payload["card_id"], "value": ANSWERS[1], "via": "matrix"},
    )
    drain(bots)
    label = next(o["label"] for o in card.payload["options"] if o["value"] == ANSWERS[1])
    assert confirmation(run, worker, room_id, bridge, event["event_id"]) == (
        f"Recorded: {label} (Anna Kowalski)"
    )

    # Card 3: a Matrix reply to the card (with the quoted fallback older clients add),
    # written the way people do ("1.").
    card = open_card(cast.team)
    event = card_in_matrix(run, worker, room_id, card.payload["card_id"], bridge)
    quoted = "\n".join(f"> {line}" for line in event["content"]["body"].splitlines())
    via_reply = answer_from_matrix(
        run,
        worker,
        room_id,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": f"> <{event['sender']}> {quoted[2:]}\n\n{ANSWERS[2]}.",
            "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}},
        },
    )
    assert (via_reply.body, via_reply.reply_to_id) == (f"{ANSWERS[2]}.", card.id)
    drain(bots)
    bridge.drain()
    assert any(
        e["content"]["body"].startswith("Thank you, Anna") for e in timeline(run, worker, room_id)
    ), "the bot's thanks reached Matrix"

    # Every answer the bot applied came from Matrix (an inbound event link).
    sources = BotStep.objects.filter(session__visit=visit, event="answer").values_list(
        "source_message_id", flat=True
    )
    assert len(sources) == 3
    assert EventLink.objects.filter(message_id__in=sources, direction="in").count() == 3

    # The same visit to a twin, answered by tapping in CoCare.
    twin_team = twin_team_room(cast)
    check(cast.anna, twin_team, bots, "Check in")
    check(cast.anna, twin_team, bots, "Check out")
    twin_visit = Visit.objects.get(service_user_id=twin_team.service_user_id)
    for value in ANSWERS:
        tap(cast.anna, twin_team, open_card(twin_team).payload["card_id"], value)
        drain(bots)

    from_matrix, from_cocare = observations(visit), observations(twin_visit)
    assert len(from_matrix) == 3
    assert from_matrix[0][1:4] == ("different_from_usual", 1, 2)  # "A little different"
    assert all(o[4] and o[5] == cast.anna.id for o in from_matrix)
    assert from_matrix == from_cocare
    assert flags(cast.team) == flags(twin_team) != []
    assert not Message.objects.filter(
        sender__role=Role.BOT, kind="system", body__startswith="Please tap"
    ).exists()
