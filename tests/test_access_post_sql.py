"""The post rule written as SQL (``rooms.access.POST_GRANT_SQL``, which ``rooms.messages``
runs inside its insert) agrees with the Python rule (``rooms.access.access_room`` for
``Action.POST``) for everyone of the cast — two providers under one council and a second
council — in both rooms of both service users, as the world changes: a family member's
basis revoked, a member who left, a service user whose care ended, and memberships that
the joining rules would never create (odd data the rule must still refuse).

Each pair is also posted to through ``check_post_message``: it is stored exactly when the
rule allows it, and a refusal answers as before (the one ``NotFound``, or ``archived``).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms import access
from rooms.errors import CoCareError, Forbidden, NotFound
from rooms.messages import check_post_message
from rooms.models import Membership, Message, Person, Room
from rooms.network import do_archive_service_user, do_remove_member, do_revoke_family_basis
from tests.support.cast import Cast

pytestmark = pytest.mark.django_db


def rooms_of(cast: Cast) -> dict[str, Room]:
    return {
        "team": cast.team,
        "family": cast.family,
        "reg_team": cast.reg_team,
        "reg_family": cast.reg_family,
    }


def python_rule(person: Person, room: Room) -> str:
    try:
        access.access_room(person, room.id, access.Action.POST)
    except NotFound:
        return "refused"
    except Forbidden as exc:
        return exc.code
    return "allowed"


def allowed_by_sql(cast: Cast) -> set[tuple[str, str]]:
    return {
        (who, name)
        for who, p in cast.everyone().items()
        for name, room in rooms_of(cast).items()
        if access.may_post(p.id, room.id) is not None
    }


def allowed_by_python(cast: Cast) -> set[tuple[str, str]]:
    return {
        (who, name)
        for who, p in cast.everyone().items()
        for name, room in rooms_of(cast).items()
        if python_rule(p, room) == "allowed"
    }


def posted_outcomes(cast: Cast, tag: str) -> dict[tuple[str, str], str]:
    """Post as every person into every room; what each attempt did."""
    out = {}
    for who, p in cast.everyone().items():
        for name, room in rooms_of(cast).items():
            cid = f"{tag}-{who}-{name}"
            try:
                posted = check_post_message(person=p, room_id=room.id, client_id=cid, body="hi")
            except NotFound:
                out[who, name] = "refused"
            except CoCareError as exc:
                out[who, name] = exc.code
            else:
                assert posted.created and posted.message.room_id == room.id
                out[who, name] = "allowed"
            stored = Message.objects.filter(sender=p, client_id=cid).exists()
            assert stored == (out[who, name] == "allowed"), (who, name)
    return out


def check_agreement(cast: Cast, tag: str, expected: set[tuple[str, str]]) -> None:
    assert allowed_by_python(cast) == expected
    assert allowed_by_sql(cast) == expected
    outcomes = posted_outcomes(cast, tag)
    assert {k for k, v in outcomes.items() if v == "allowed"} == expected
    for (who, name), got in outcomes.items():
        # A refusal answers exactly as the Python rule says (NotFound, or archived).
        assert got == python_rule(cast.everyone()[who], rooms_of(cast)[name]), (who, name)


PEGGY_TEAM = {"care_worker", "nurse", "therapist", "care_manager", "bot"}
PEGGY_FAMILY = {"care_worker", "care_manager", "bot", "family", "service_user"}
REG_TEAM = {"other_council_manager", "other_council_worker", "other_council_nurse"}
REG_FAMILY = {"other_council_manager", "other_council_worker", "other_council_family"}
REG_FAMILY |= {"other_council_service_user"}


def test_sql_and_python_rules_agree_as_the_world_changes(cast):
    expected = (
        {(w, "team") for w in PEGGY_TEAM}
        | {(w, "family") for w in PEGGY_FAMILY}
        | {(w, "reg_team") for w in REG_TEAM}
        | {(w, "reg_family") for w in REG_FAMILY}
    )
    # Reg's bot has no key in everyone(); the visit bot is a member of both his rooms.
    assert access.may_post(cast.far_bot.id, cast.reg_team.id) == Room.Kind.PROFESSIONAL
    check_agreement(cast, "start", expected)

    # A family member whose lawful basis was revoked keeps the membership row, not access.
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    expected -= {("family", "family")}
    check_agreement(cast, "revoked", expected)

    # A member who left.
    do_remove_member(cast.team, cast.anna, by=cast.carol)
    expected -= {("care_worker", "team")}
    check_agreement(cast, "left", expected)

    # Memberships the joining rules never create: the grant rule refuses them itself.
    for who, room in (
        ("commissioner", cast.team),  # no room admits a commissioner
        ("other_council_family", cast.team),  # family in a team room
        ("nurse", cast.family),  # a nurse in a family room
        ("other_council_service_user", cast.family),  # a service user in another's room
        ("other_provider_worker", cast.team),  # wrong tenant, right role (joining rule)
    ):
        Membership.objects.create(room=room, person=cast.everyone()[who], joined_at=room.created_at)
    expected |= {("other_provider_worker", "team")}  # the grant rule is role and room only
    check_agreement(cast, "odd", expected)

    # A family member's own basis counts, not another's: Rita's basis is for Reg.
    Membership.objects.create(room=cast.family, person=cast.rita, joined_at=cast.family.created_at)
    check_agreement(cast, "rita", expected)

    # Care ended: every room of that person is read-only for everyone, answered "archived".
    do_archive_service_user(cast.reg, by=cast.far_manager)
    expected = {k for k in expected if not k[1].startswith("reg_")}
    check_agreement(cast, "archived", expected)
    assert python_rule(cast.far_worker, cast.reg_team) == "archived"


def test_a_note_goes_only_to_the_team_room_and_a_retry_leaves_no_gap(cast):
    anna = cast.anna
    with pytest.raises(CoCareError) as err:
        check_post_message(person=anna, room_id=cast.family.id, kind="note", body="obs")
    assert "team room" in err.value.message
    first = check_post_message(
        person=anna, room_id=cast.team.id, kind="note", body="obs", client_id="n1"
    )
    again = check_post_message(
        person=anna, room_id=cast.team.id, kind="note", body="obs", client_id="n1"
    )
    assert (again.created, again.message.id) == (False, first.message.id)
    nxt = check_post_message(person=anna, room_id=cast.team.id, body="next", client_id="n2")
    assert nxt.message.seq == first.message.seq + 1  # the retry's bump was undone
    # A client id already used in another room is refused, not stored twice.
    with pytest.raises(CoCareError) as err:
        check_post_message(person=anna, room_id=cast.family.id, body="x", client_id="n1")
    assert err.value.code == "conflict"
    # Room ids no column can hold answer like a missing room (never a database error).
    for odd in (0, -1, 2**63, 10**30):
        with pytest.raises(NotFound):
            check_post_message(person=anna, room_id=odd, body="x")
    # A structural error from a non-member answers like a missing room (access first).
    with pytest.raises(NotFound):
        check_post_message(person=cast.far_worker, room_id=cast.team.id, body="  ")


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement write is PostgreSQL's"
)
def test_a_post_is_one_statement_on_postgresql(cast):
    with CaptureQueriesContext(connection) as q:
        posted = check_post_message(person=cast.anna, room_id=cast.team.id, body="one trip")
    assert posted.created
    # Inside the test's transaction the post's own transaction is a savepoint.
    sql = [x["sql"] for x in q.captured_queries]
    work = [s for s in sql if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))]
    assert len(work) == 1, sql
