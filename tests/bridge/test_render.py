"""How CoCare entries look in Matrix (bridge/render.py is pure; one label look-up uses the DB)."""

from __future__ import annotations

import pytest

from bridge.render import (
    CARD_KEY,
    POLL_START,
    TEXT_BLOCK,
    TXN_KEY,
    Answerer,
    Rendered,
    card_text,
    render,
)
from bridge.sender import _answer_label
from rooms.messages import check_post_message, post_message
from tests.support.cast import T0

OPTIONS = [
    {"value": 1, "label": "Same as usual", "emoji": "🙂"},
    {"value": 2, "label": "A little different", "emoji": "😐"},
    {"value": 3, "label": "Very different"},
]
CARD = {
    "card_id": "s7q1",
    "card_type": "screener",
    "title": "Is Peggy different from usual?",
    "options": OPTIONS,
    "data": {"question_key": "different_from_usual"},
}


def entry(kind, body="", payload=None, **kw):
    return render(kind=kind, body=body, payload=payload or {}, txn_id="cocare-42", **kw)


def test_a_card_is_numbered_lines_by_option_value_and_who_may_answer():
    assert card_text(CARD["title"], OPTIONS, "Anna: answer the poll, or reply with a number.") == (
        "Is Peggy different from usual?\n"
        "1. 🙂 Same as usual\n"
        "2. 😐 A little different\n"
        "3. Very different\n"
        "Anna: answer the poll, or reply with a number."
    )


def test_card_numbers_are_the_option_values_not_positions():
    text = card_text(
        "Goal progress", [{"value": 2, "label": "Some"}, {"value": 5, "label": "Done"}]
    )
    assert text.splitlines()[1:3] == ["2. Some", "5. Done"]


def test_a_card_without_options_is_just_its_title():
    r = entry(
        "card", payload={"card_id": "i1", "card_type": "info", "title": "Heads up", "options": []}
    )
    assert (r.event_type, r.content["body"]) == ("m.room.message", "Heads up")


def test_a_question_card_is_a_poll_that_tells_only_the_visits_worker_how_to_answer():
    anna = Answerer(name="Anna Kowalski", matrix_id="@anna:nhs.example.org")
    r = entry("card", payload=CARD, answerer=anna)
    fallback = card_text(
        CARD["title"], OPTIONS, "Anna Kowalski: answer the poll, or reply with a number."
    )
    assert r == Rendered(
        "send",
        {
            POLL_START: {
                "kind": "org.matrix.msc3381.poll.disclosed",
                "max_selections": 1,
                "question": {TEXT_BLOCK: CARD["title"], "body": CARD["title"], "msgtype": "m.text"},
                "answers": [
                    {"id": "1", TEXT_BLOCK: "🙂 Same as usual"},
                    {"id": "2", TEXT_BLOCK: "😐 A little different"},
                    {"id": "3", TEXT_BLOCK: "Very different"},
                ],
            },
            TEXT_BLOCK: fallback,
            "body": fallback,
            "msgtype": "m.text",
            "m.mentions": {"user_ids": ["@anna:nhs.example.org"]},
            CARD_KEY: {"card_id": "s7q1", "options": [1, 2, 3]},
            TXN_KEY: "cocare-42",
        },
        event_type=POLL_START,
    )


def test_a_family_voice_card_tells_the_family_and_mentions_nobody():
    r = entry("card", payload={**CARD, "card_type": "family_voice"}, room_kind="family")
    assert r.content["body"].splitlines()[-1] == "Family: answer the poll, or reply with a number."
    assert "m.mentions" not in r.content


def test_a_care_plan_tasks_card_is_a_multi_choice_poll_ticked_not_answered_by_number():
    tasks = {
        "card_id": "tasks:9",
        "card_type": "visit_tasks",
        "title": "Morning visit: 2 tasks",
        "options": [{"value": 0, "label": "★ Medication"}, {"value": 1, "label": "Breakfast"}],
    }
    r = entry("card", payload=tasks)
    assert r.content[POLL_START]["max_selections"] == 2
    assert r.content["body"].splitlines()[-1] == (
        "The visit's care worker: tick each task in the poll when it is done."
    )


KEY_INFO = {
    "card_id": "s3key",
    "card_type": "key_info",
    "title": "First visit to Peggy: key information",
    "options": [],
    "data": {
        "preferences": "Tea, one sugar",
        "what_matters": "Her cat, Biscuit",
        "access_notes": "Key safe 4411",
    },
}


def test_key_information_crosses_to_a_team_room_without_its_access_notes():
    body = entry("card", payload=KEY_INFO).content["body"]
    assert body.splitlines() == [
        "First visit to Peggy: key information",
        "Preferences: Tea, one sugar",
        "What matters: Her cat, Biscuit",
        "Access notes are not sent to Matrix: open the key information in CoCare.",
    ]
    assert "4411" not in str(entry("card", payload=KEY_INFO).content)


def test_key_information_is_only_a_pointer_outside_the_team_room():
    content = entry("card", payload=KEY_INFO, room_kind="family").content
    assert content["body"] == (
        "First visit to Peggy: key information\nThe key information is in CoCare."
    )


def test_an_edit_in_cocare_of_a_message_written_in_matrix_is_a_reply_not_a_replacement():
    r = entry("edit", "BP 125/80", target_event_id="$orig", target_from_matrix=True)
    assert r == Rendered(
        "send",
        {
            "msgtype": "m.text",
            "body": "Edited in CoCare: BP 125/80",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}},
            TXN_KEY: "cocare-42",
        },
    )


@pytest.mark.parametrize(
    ("kind", "body", "msgtype", "text"),
    [
        ("text", "Peggy ate all her lunch", "m.text", "Peggy ate all her lunch"),
        ("note", "Dressing changed", "m.text", "Clinical note: Dressing changed"),
        (
            "system",
            "Anna checked in 09:02 (at home)",
            "m.notice",
            "Anna checked in 09:02 (at home)",
        ),
    ],
)
def test_text_notes_and_notices(kind, body, msgtype, text):
    assert entry(kind, body) == Rendered(
        "send", {"msgtype": msgtype, "body": text, TXN_KEY: "cocare-42"}
    )


def test_an_answer_is_a_notice_with_the_chosen_label_or_else_the_value():
    assert entry(
        "answer", payload={"card_id": "s7q1", "value": 2}, answered_label="A little different"
    ).content["body"] == ("Answered: A little different")
    assert entry("answer", payload={"card_id": "gone", "value": 2}).content == {
        "msgtype": "m.notice",
        "body": "Answered: 2",
        TXN_KEY: "cocare-42",
    }


def test_a_reply_points_at_the_bridged_event():
    r = entry("text", "On my way", reply_event_id="$orig")
    assert r.content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$orig"}}


def test_an_edit_replaces_the_bridged_event_and_ignores_reply_relations():
    r = entry("edit", "BP 125/80", target_event_id="$orig", reply_event_id="$other")
    assert r == Rendered(
        "send",
        {
            "msgtype": "m.text",
            "body": "* BP 125/80",
            "m.new_content": {"msgtype": "m.text", "body": "BP 125/80"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"},
            TXN_KEY: "cocare-42",
        },
    )


def test_a_redaction_redacts_the_bridged_event():
    assert entry("redaction", target_event_id="$orig") == Rendered("redact", {}, "$orig")


@pytest.mark.parametrize("kind", ["edit", "redaction"])
def test_amendments_of_entries_that_never_reached_matrix_do_not_cross(kind):
    assert entry(kind, "x") is None


@pytest.mark.parametrize("kind", ["signal", "membership", "unknown"])
def test_signals_and_other_kinds_do_not_cross(kind):
    assert entry(kind, "x", payload={"signal": "flag"}) is None


@pytest.mark.django_db
def test_a_tapped_answer_is_labelled_from_its_card_in_the_same_room(cast):
    post_message(room=cast.team, sender=cast.bot, kind="card", payload=CARD, now=T0)
    tap = check_post_message(
        person=cast.anna,
        room_id=cast.team.id,
        kind="answer",
        payload={"card_id": "s7q1", "value": 2},
        now=T0,
    ).message
    assert _answer_label(tap) == "A little different"
    family = check_post_message(
        person=cast.debbie,
        room_id=cast.family.id,
        kind="answer",
        payload={"card_id": "s7q1", "value": 2},
        now=T0,
    ).message
    assert _answer_label(family) is None  # a card of another room never labels it
    text = check_post_message(person=cast.anna, room_id=cast.team.id, body="2", now=T0).message
    assert _answer_label(text) is None
