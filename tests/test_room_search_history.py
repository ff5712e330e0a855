"""Group-chat basics over the record (issue 15): search within a room, older history by
``before_seq``, unread counts and previews, and who counts for ticks.

Runs on the embedded default (SQLite FTS5) and in the services phase (PostgreSQL
full-text with its GIN index), through the real write path and the HTTP API.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from rooms import search
from rooms.errors import Invalid, NotFound
from rooms.messages import check_post_message, post_message
from rooms.models import AuditEvent, Membership, Role
from rooms.network import do_add_member, do_record_family_basis
from rooms.reads import check_mark_read
from rooms.summaries import receipts, room_summaries
from tests.support.cast import person

pytestmark = pytest.mark.django_db


def say(cast, who, body, room=None, **kw):
    return check_post_message(person=who, room_id=(room or cast.family).id, body=body, **kw).message


def client_for(p) -> Client:
    c = Client(raise_request_exception=False)
    c.force_login(p.user)
    return c


def found(p, room, q) -> list[str]:
    return [m.current_body for m in search.search_room(p, room.id, q).messages]


# ---- search ----------------------------------------------------------------------------


def test_search_finds_words_by_their_current_text_never_deleted_ones(cast):
    say(cast, cast.anna, "Peggy enjoyed her porridge with honey")
    edited = say(cast, cast.anna, "The district nurse visits on Tuesday")
    gone = say(cast, cast.debbie, "The spare key is under the blue pot")
    say(cast, cast.anna, "Tea and biscuits", kind="text")
    check_post_message(
        person=cast.anna,
        room_id=cast.family.id,
        kind="edit",
        target_seq=edited.seq,
        body="The district nurse visits on Thursday",
        client_id="e1",
    )
    check_post_message(
        person=cast.debbie,
        room_id=cast.family.id,
        kind="redaction",
        target_seq=gone.seq,
        client_id="r1",
    )
    assert found(cast.debbie, cast.family, "porridge") == ["Peggy enjoyed her porridge with honey"]
    assert found(cast.debbie, cast.family, "Thursday") == ["The district nurse visits on Thursday"]
    assert found(cast.debbie, cast.family, "Tuesday") == []
    assert found(cast.debbie, cast.family, "spare key") == []
    assert found(cast.debbie, cast.family, "blue") == []
    # Several words: all of them, in any order; case and punctuation do not matter.
    assert found(cast.debbie, cast.family, "HONEY, peggy!") == [
        "Peggy enjoyed her porridge with honey"
    ]


def test_search_never_reaches_before_visible_from_or_another_room(cast):
    say(cast, cast.anna, "Old news about the new diagnosis")
    dora = person("dora", "Dora Hughes", Role.FAMILY, None)
    do_record_family_basis(cast.peggy, dora, "consent", by=cast.carol)
    do_add_member(cast.family, dora, by=cast.carol, notify=False)
    assert Membership.objects.get(room=cast.family, person=dora).visible_from_seq > 0
    say(cast, cast.anna, "Fresh news: the diagnosis letter came")
    say(cast, cast.nadia, "Diagnosis discussed with the GP", room=cast.team, kind="note")
    assert found(dora, cast.family, "diagnosis") == ["Fresh news: the diagnosis letter came"]
    assert len(found(cast.debbie, cast.family, "diagnosis")) == 2  # joined before both
    assert found(cast.nadia, cast.team, "diagnosis") == ["Diagnosis discussed with the GP"]
    # No access: the one NotFound, whatever the reason — never a result.
    for who, room in (
        (dora, cast.team),
        (cast.nadia, cast.family),
        (cast.far_worker, cast.family),
        (cast.far_nurse, cast.team),
        (cast.colin, cast.family),
        (cast.other_manager, cast.team),
    ):
        with pytest.raises(NotFound):
            search.search_room(who, room.id, "diagnosis")


@pytest.mark.parametrize("q", ["", "   ", "!!! ???", "x" * 201, "a\x00b"])
def test_odd_queries_are_refused_clearly(cast, q):
    with pytest.raises(Invalid):
        search.search_room(cast.anna, cast.family.id, q)


def test_fts_syntax_in_a_query_is_only_words(cast):
    say(cast, cast.anna, "She said NEAR the door, not OR the window")
    for q in ('"door', "door*", "NEAR(door window)", "door:window", "^door", "door)"):
        assert found(cast.anna, cast.family, q) == ["She said NEAR the door, not OR the window"]


def test_search_api_answers_json_and_audits_without_content(cast):
    say(cast, cast.anna, "Margaret's hearing aid battery is low")
    debbie = client_for(cast.debbie)
    r = debbie.get(f"/api/rooms/{cast.family.id}/search", {"q": "hearing aid"})
    assert r.status_code == 200
    assert [m["body"] for m in r.json()["messages"]] == ["Margaret's hearing aid battery is low"]
    ev = AuditEvent.objects.filter(actor=cast.debbie, action="room.search").get()
    assert "hearing" not in ev.target
    assert debbie.get(f"/api/rooms/{cast.team.id}/search", {"q": "hearing"}).status_code == 404
    bad = debbie.get(f"/api/rooms/{cast.family.id}/search", {"q": "?!"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    assert debbie.get(f"/api/rooms/{cast.family.id}/search", {"q": ""}).status_code == 422
    assert debbie.get(f"/api/rooms/{cast.family.id}/search", {"q": "x" * 500}).status_code == 422


def test_postgres_search_can_use_the_gin_index(cast):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (services phase)")
    say(cast, cast.anna, "index check")
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        qs = search._matching(search.Message.objects.all(), "index")
        sql, params = qs.query.sql_with_params()
        cur.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert search.PG_INDEX in plan


# ---- older history ---------------------------------------------------------------------


def test_older_history_by_before_seq_stops_at_visible_from(cast):
    for i in range(3):
        say(cast, cast.anna, f"before {i}")
    dora = person("dora", "Dora Hughes", Role.FAMILY, None)
    do_record_family_basis(cast.peggy, dora, "consent", by=cast.carol)
    do_add_member(cast.family, dora, by=cast.carol, notify=False)
    start = Membership.objects.get(room=cast.family, person=dora).visible_from_seq
    for i in range(5):
        say(cast, cast.anna, f"after {i}")
    head = cast.family.__class__.objects.get(pk=cast.family.pk).last_seq
    dora_c = client_for(dora)
    url = f"/api/rooms/{cast.family.id}/messages"
    page = dora_c.get(url, {"before_seq": head, "limit": 2}).json()
    assert [m["body"] for m in page["messages"]] == ["after 2", "after 3"]
    assert page["more"] is True and page["visible_from"] == start
    page = dora_c.get(url, {"before_seq": page["messages"][0]["seq"], "limit": 10}).json()
    assert [m["body"] for m in page["messages"]] == ["after 0", "after 1"]
    assert page["more"] is False
    assert dora_c.get(url, {"before_seq": start + 1}).json()["messages"] == []
    debbie = client_for(cast.debbie).get(url, {"before_seq": start + 1, "limit": 2}).json()
    assert [m["body"] for m in debbie["messages"]] == ["before 1", "before 2"]
    for bad in ({"before_seq": 0}, {"before_seq": 2**64}, {"before_seq": "x"}):
        assert dora_c.get(url, bad).status_code == 422
    assert dora_c.get(url, {"before_seq": 3, "after_seq": 1}).status_code == 422


# ---- unread, previews, receipts --------------------------------------------------------


def test_unread_counts_and_previews_follow_reads_on_any_device(cast):
    say(cast, cast.anna, "Peggy is settled")
    say(cast, cast.anna, "She had lunch")
    mine = say(cast, cast.debbie, "Thanks, I'll call later")
    post_message(
        room=cast.family,
        sender=cast.bot,
        kind="system",
        body="Anna left 12:30",
        payload={"event": "visit.left"},
    )
    s = room_summaries(cast.debbie)[cast.family.id]
    assert s.unread == 3  # her own message does not count
    assert s.preview == "Anna left 12:30" and s.preview_sender == ""
    check_mark_read(cast.debbie, cast.family.id, mine.seq)  # e.g. on her tablet
    s = room_summaries(cast.debbie)[cast.family.id]
    assert s.unread == 1
    r = client_for(cast.debbie).get("/api/rooms/summary")
    assert r.status_code == 200
    rows = {x["room"]: x for x in r.json()}
    assert set(rows) == {cast.family.id}  # only rooms she may read
    assert rows[cast.family.id]["unread"] == 1
    previews = AuditEvent.objects.filter(actor=cast.debbie, action="room.preview")
    assert [(e.room_id, e.target) for e in previews] == [(cast.family.id, "")]  # never content
    home = client_for(cast.debbie).get("/")
    assert home.status_code == 200, home.content[:2000]
    assert previews.all().count() == 2
    assert client_for(cast.anna).get("/api/rooms/summary").json()[0]["preview_sender"] in (
        "",
        "You",
        "Debbie Hughes",
    )


def test_receipts_list_humans_with_their_visible_from(cast):
    say(cast, cast.anna, "Before Dora")
    dora = person("dora", "Dora Hughes", Role.FAMILY, None)
    do_record_family_basis(cast.peggy, dora, "consent", by=cast.carol)
    do_add_member(cast.family, dora, by=cast.carol, notify=False)
    rows = {r["name"]: r for r in receipts(cast.family)}
    assert "Dora Hughes" in rows and rows["Dora Hughes"]["visible_from"] >= 1
    assert rows["Debbie Hughes"]["visible_from"] == 0
    assert all(r["person"] != cast.bot.id for r in rows.values())
    assert client_for(cast.nadia).get(f"/api/rooms/{cast.family.id}/receipts").status_code == 404
