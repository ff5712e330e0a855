"""The one write path: gap-free seqs, idempotent client ids, amendments, clean refusals."""

from __future__ import annotations

import pytest

from rooms.errors import Conflict, Forbidden, Invalid, NotFound
from rooms.messages import check_post_message, history, post_message
from rooms.models import Message, Room


def test_seqs_are_gap_free_per_room_and_ids_follow_the_global_log(cast):
    a = [
        check_post_message(person=cast.anna, room_id=cast.team.id, body=f"t{i}").message
        for i in range(3)
    ]
    b = check_post_message(person=cast.anna, room_id=cast.family.id, body="f0").message
    c = check_post_message(person=cast.nadia, room_id=cast.team.id, body="t3").message
    assert [m.seq for m in a] + [c.seq] == [1, 2, 3, 4]
    assert b.seq == 1
    assert a[0].id < a[1].id < a[2].id < b.id < c.id
    assert Room.objects.get(pk=cast.team.pk).last_seq == 4


def test_same_client_id_twice_yields_one_message(cast):
    first = check_post_message(person=cast.anna, room_id=cast.team.id, body="Hi", client_id="c-1")
    again = check_post_message(person=cast.anna, room_id=cast.team.id, body="Hi", client_id="c-1")
    assert first.created and not again.created
    assert again.message.id == first.message.id
    assert Message.objects.filter(room=cast.team).count() == 1


def test_client_ids_are_scoped_to_the_sender(cast):
    check_post_message(person=cast.anna, room_id=cast.team.id, body="a", client_id="same")
    check_post_message(person=cast.nadia, room_id=cast.team.id, body="b", client_id="same")
    assert Message.objects.filter(room=cast.team).count() == 2


def test_reusing_a_client_id_in_another_room_is_refused(cast):
    check_post_message(person=cast.anna, room_id=cast.team.id, body="a", client_id="x")
    with pytest.raises(Conflict):
        check_post_message(person=cast.anna, room_id=cast.family.id, body="a", client_id="x")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"body": ""}, "empty"),
        ({"body": "   "}, "empty"),
        ({"body": "x" * 8001}, "too long"),
        ({"body": "a\x00b"}, "NUL"),
        ({"body": "hi", "reply_to_seq": 99}, "reply_to"),
        ({"kind": "edit", "body": "new"}, "target"),
        ({"kind": "answer", "payload": {"card_id": "c", "value": 99}}, "payload"),
        ({"kind": "answer", "payload": {"card_id": "c", "value": 1, "extra": 1}}, "payload"),
        ({"body": "hi", "payload": {"surprise": True}}, "payload"),
    ],
)
def test_bad_entries_are_refused_with_a_reason_and_nothing_is_written(cast, kwargs, error):
    with pytest.raises(Invalid) as exc:
        check_post_message(person=cast.anna, room_id=cast.team.id, **kwargs)
    assert error in exc.value.message
    assert Message.objects.count() == 0
    assert Room.objects.get(pk=cast.team.pk).last_seq == 0


def test_people_cannot_post_system_notices_cards_or_signals(cast):
    for kind in ("system", "card", "signal"):
        with pytest.raises(Forbidden):
            check_post_message(person=cast.anna, room_id=cast.team.id, kind=kind, body="x")


def test_clinical_notes_stay_in_the_team_room(cast):
    check_post_message(person=cast.nadia, room_id=cast.team.id, kind="note", body="BP 130/85")
    with pytest.raises(Invalid):
        check_post_message(person=cast.anna, room_id=cast.family.id, kind="note", body="BP")


def test_edit_keeps_the_original_in_the_log_and_shows_the_new_text(cast):
    orig = check_post_message(person=cast.anna, room_id=cast.team.id, body="Ate half").message
    edit = check_post_message(
        person=cast.anna,
        room_id=cast.team.id,
        kind="edit",
        body="Ate all of lunch",
        target_seq=orig.seq,
    ).message
    orig.refresh_from_db()
    assert orig.body == "Ate half"  # the audit trail
    assert orig.current_body == "Ate all of lunch"
    assert edit.target_id == orig.id and edit.seq == 2


def test_only_the_author_edits_and_author_or_manager_redacts(cast):
    m = check_post_message(person=cast.anna, room_id=cast.team.id, body="typo").message
    with pytest.raises(Forbidden):
        check_post_message(
            person=cast.nadia, room_id=cast.team.id, kind="edit", body="x", target_seq=m.seq
        )
    with pytest.raises(Forbidden):
        check_post_message(
            person=cast.nadia, room_id=cast.team.id, kind="redaction", target_seq=m.seq
        )
    check_post_message(person=cast.carol, room_id=cast.team.id, kind="redaction", target_seq=m.seq)
    m.refresh_from_db()
    assert m.redacted_at is not None and m.current_body == "" and m.body == "typo"
    with pytest.raises(Invalid):
        check_post_message(
            person=cast.anna, room_id=cast.team.id, kind="redaction", target_seq=m.seq
        )


def test_system_entries_go_through_the_same_path(cast):
    posted = post_message(
        room=cast.team,
        sender=cast.bot,
        kind="system",
        body="Visit started",
        payload={"event": "visit.started"},
    )
    assert posted.message.seq == 1 and posted.message.payload == {
        "event": "visit.started",
        "data": {},
    }


def test_history_respects_after_seq_and_visibility(cast):
    for i in range(5):
        check_post_message(person=cast.anna, room_id=cast.family.id, body=f"m{i}")
    rows = history(cast.family, after_seq=1, visible_from=3, limit=10)
    assert [m.seq for m in rows] == [4, 5]


def test_outsiders_cannot_post(cast):
    with pytest.raises(NotFound):
        check_post_message(person=cast.outsider_worker, room_id=cast.team.id, body="hello")


def test_retrying_a_redaction_returns_the_same_entry(cast):
    m = check_post_message(person=cast.anna, room_id=cast.team.id, body="oops").message
    first = check_post_message(
        person=cast.anna,
        room_id=cast.team.id,
        kind="redaction",
        target_seq=m.seq,
        client_id="del-1",
    )
    again = check_post_message(
        person=cast.anna,
        room_id=cast.team.id,
        kind="redaction",
        target_seq=m.seq,
        client_id="del-1",
    )
    assert first.created and not again.created
    assert again.message.id == first.message.id
