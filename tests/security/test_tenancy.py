"""Tenancy: who may be added to a care network, asked across two providers and two councils.

The rule (docs/security.md "Adding members"): staff of the room's provider (a partner
health organisation's nurse or therapist: team room only), the service user themselves,
or family linked to this service user while a lawful basis is recorded. Every refusal —
unknown id, no right to manage, another tenant, wrong role, no basis — is the same 404
body, and writes nothing (no membership, no audit event, no notice).

The table is written out by hand from that rule, not derived from ``rooms.access``.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from bots.models import Goal, PlannedVisit
from escalation.models import Alert
from rooms.assessors import do_allocate
from rooms.models import AuditEvent, Membership, Message, Person, Role, Room
from rooms.network import (
    FamilyBasisIn,
    do_add_member,
    do_create_service_user,
    do_record_family_basis,
    do_remove_member,
    do_revoke_family_basis,
    system_person,
)
from tests.escalation.helpers import drain, say
from tests.security.helpers import client_for, set_limit
from tests.support.cast import T0, person
from web.invitations import check_create_invitation, redeem_invitation

pytestmark = pytest.mark.django_db

ADDED, REFUSED = 201, 404
TEAM, FAMILY = "professional", "family"
UNKNOWN_ID = 9_000_000_000

# target -> (team room, family room) when Peggy's care manager adds them to Peggy's rooms.
EXPECTED: dict[str, tuple[int, int]] = {
    "own provider's care worker": (ADDED, ADDED),
    "own provider's bot, after its removal": (ADDED, ADDED),
    "partner health district nurse": (ADDED, REFUSED),
    "partner health physio": (ADDED, REFUSED),
    "Peggy herself": (REFUSED, ADDED),
    "Peggy's daughter (basis recorded)": (REFUSED, ADDED),
    "family of another person at the same provider": (REFUSED, REFUSED),
    "other provider's care worker": (REFUSED, REFUSED),
    "other provider's care manager": (REFUSED, REFUSED),
    "other council's provider's care worker": (REFUSED, REFUSED),
    "other council's provider's care manager": (REFUSED, REFUSED),
    "other council's district nurse": (REFUSED, REFUSED),
    "other council's provider's bot": (REFUSED, REFUSED),
    "other council's family member": (REFUSED, REFUSED),
    "another service user": (REFUSED, REFUSED),
    "council commissioner": (REFUSED, REFUSED),
    "other council's commissioner": (REFUSED, REFUSED),
    "council assessor allocated to Peggy": (REFUSED, REFUSED),
    "the system sender": (REFUSED, REFUSED),
    "an id nobody has": (REFUSED, REFUSED),
}

# Everyone who can sign in; only Peggy's care manager manages her rooms.
ACTORS = [
    "care_manager",
    "care_worker",
    "nurse",
    "therapist",
    "family",
    "service_user",
    "commissioner",
    "unassigned_worker",
    "other_provider_manager",
    "other_provider_worker",
    "other_council_manager",
    "other_council_worker",
    "other_council_nurse",
    "other_council_commissioner",
    "other_council_service_user",
    "other_council_family",
]


def _world(cast) -> dict[str, int]:
    """Peggy's network with a few members removed (so adding them back is a real write),
    and a second Brightwater service user whose son joined by invitation."""
    for room, p in (
        (cast.team, cast.bot),
        (cast.family, cast.bot),
        (cast.team, cast.nadia),
        (cast.team, cast.tom),
        (cast.family, cast.debbie),
        (cast.family, cast.margaret),
    ):
        do_remove_member(room, p, by=cast.carol)
    arthur = do_create_service_user(
        full_name="Arthur Patel",
        provider=cast.provider,
        council=cast.council,
        created_by=cast.carol,
    )
    # Arthur's manager is Carol too: she must be in his family room to invite.
    arthur_family = Room.objects.get(service_user=arthur, kind=FAMILY)
    do_add_member(arthur_family, cast.carol, by=cast.carol, notify=False)
    issued = check_create_invitation(
        cast.carol,
        arthur.id,
        display_name="Alan Patel",
        basis=FamilyBasisIn(basis="consent", review_on=T0.date() + dt.timedelta(days=365)),
    )
    alan = redeem_invitation(issued.token, username="alan", password="lilac-harbour-71")
    ruth = person("ruth", "Ruth Assessor", Role.ASSESSOR, cast.council)
    do_allocate(ruth, cast.peggy, by=cast.colin, starts_on=T0.date())
    return {
        "own provider's care worker": cast.outsider_worker.id,
        "own provider's bot, after its removal": cast.bot.id,
        "partner health district nurse": cast.nadia.id,
        "partner health physio": cast.tom.id,
        "Peggy herself": cast.margaret.id,
        "Peggy's daughter (basis recorded)": cast.debbie.id,
        "family of another person at the same provider": alan.id,
        "other provider's care worker": cast.other_worker.id,
        "other provider's care manager": cast.other_manager.id,
        "other council's provider's care worker": cast.far_worker.id,
        "other council's provider's care manager": cast.far_manager.id,
        "other council's district nurse": cast.far_nurse.id,
        "other council's provider's bot": cast.far_bot.id,
        "other council's family member": cast.rita.id,
        "another service user": cast.reg_person.id,
        "council commissioner": cast.colin.id,
        "other council's commissioner": cast.far_commissioner.id,
        "council assessor allocated to Peggy": ruth.id,
        "the system sender": system_person().id,
        "an id nobody has": UNKNOWN_ID,
    }


def _snapshot() -> tuple:
    return (
        sorted(Membership.objects.values_list("room_id", "person_id", "removed_at")),
        AuditEvent.objects.count(),
        Message.objects.count(),
    )


def _add(c: Client, room_id: int, person_id: int):
    return c.post(
        f"/api/rooms/{room_id}/members",
        json.dumps({"person_id": person_id}),
        content_type="application/json",
    )


@pytest.fixture
def unlimited(monkeypatch):
    set_limit(monkeypatch, "rate_limit_invites", 0)  # this table is not about the limiter


@pytest.mark.parametrize("actor", ACTORS)
def test_adding_members_follows_the_tenancy_table_and_every_refusal_is_one_404(
    cast, unlimited, actor
):
    targets = _world(cast)
    c = client_for(cast.everyone()[actor])
    # The reference refusal: a room nobody has.
    reference = _add(c, UNKNOWN_ID, cast.outsider_worker.id)
    assert reference.status_code == 404
    assert reference.json()["error"] == "not_found"
    got, bodies = {}, set()
    for target, person_id in targets.items():
        for kind, room in ((TEAM, cast.team), (FAMILY, cast.family)):
            before = _snapshot()
            r = _add(c, room.id, person_id)
            got[(target, kind)] = r.status_code
            if r.status_code == ADDED:
                assert Membership.objects.get(room=room, person_id=person_id).removed_at is None
                assert AuditEvent.objects.filter(
                    action="membership.add", room=room, target=f"person:{person_id}"
                ).exists()
            else:
                bodies.add(r.content)
                assert _snapshot() == before, (actor, target, kind)
    want = {
        (t, k): (codes[i] if actor == "care_manager" else REFUSED)
        for t, codes in EXPECTED.items()
        for i, k in enumerate((TEAM, FAMILY))
    }
    assert got == want
    assert bodies == {reference.content}  # byte-identical, whatever the reason


def test_the_refusal_reads_the_same_for_every_actor(cast, unlimited):
    """Managers of other tenants, members who may not manage and outsiders all get the one
    body, so neither a room's nor a person's existence or role can be probed."""
    bodies = set()
    for actor in ACTORS:
        c = client_for(cast.everyone()[actor])
        for room in (cast.team, cast.family, cast.reg_team, cast.reg_family):
            for person_id in (cast.far_worker.id, cast.rita.id, cast.colin.id, UNKNOWN_ID):
                r = _add(c, room.id, person_id)
                if r.status_code != ADDED:
                    bodies.add(r.content)
    assert len(bodies) == 1
    assert json.loads(bodies.pop()) == {"error": "not_found", "message": "No such room or person."}


def test_family_without_a_recorded_basis_cannot_be_added_back(cast, unlimited):
    do_remove_member(cast.family, cast.debbie, by=cast.carol)
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    carol = client_for(cast.carol)
    unknown = _add(carol, cast.family.id, UNKNOWN_ID)
    before = _snapshot()
    r = _add(carol, cast.family.id, cast.debbie.id)
    assert (r.status_code, r.content) == (404, unknown.content)
    assert _snapshot() == before
    # With a basis recorded again, she may be added back.
    do_record_family_basis(cast.peggy, cast.debbie, "consent", by=cast.carol)
    assert _add(carol, cast.family.id, cast.debbie.id).status_code == 201
    assert client_for(cast.debbie).get(f"/api/rooms/{cast.family.id}/messages").status_code == 200


def test_an_added_outsider_would_have_read_the_family_room(cast, unlimited):
    """The reported attack: another provider's family member added by id reads nothing."""
    say(cast.anna, cast.family, "Peggy was tearful after the phone call")
    r = _add(client_for(cast.carol), cast.family.id, cast.rita.id)
    assert r.status_code == 404
    rita = client_for(cast.rita)
    assert rita.get(f"/api/rooms/{cast.family.id}/messages").status_code == 404
    assert cast.family.id not in [x["room"] for x in rita.get("/api/rooms").json()]


def test_removing_members_refuses_with_the_same_404(cast):
    carol, anna = client_for(cast.carol), client_for(cast.anna)
    url = f"/api/rooms/{cast.family.id}/members"
    answers = [
        carol.delete(f"{url}/{UNKNOWN_ID}"),  # nobody
        carol.delete(f"{url}/{cast.rita.id}"),  # not a member here
        carol.delete(f"/api/rooms/{cast.reg_family.id}/members/{cast.rita.id}"),  # other tenant
        anna.delete(f"{url}/{cast.debbie.id}"),  # a member who may not manage
        client_for(cast.far_manager).delete(f"{url}/{cast.debbie.id}"),
    ]
    assert {r.status_code for r in answers} == {404}
    assert len({r.content for r in answers}) == 1
    assert Membership.objects.get(room=cast.family, person=cast.debbie).removed_at is None


# ---- visits and goals: an existing person of another provider reads like a missing one --


def _post(c: Client, url: str, body: dict):
    return c.post(url, json.dumps(body), content_type="application/json")


WRITES = {
    "goals": ("/api/visits/service-users/{}/goals", lambda cast: {"text": "Walk to the shop"}),
    "planned": (
        "/api/visits/service-users/{}/planned",
        lambda cast: {
            "worker_id": cast.anna.id,
            "window_start": "2026-03-03T09:00:00Z",
            "window_end": "2026-03-03T09:30:00Z",
        },
    ),
}
REFUSED_WRITERS = [
    "care_worker",
    "nurse",
    "family",
    "service_user",
    "commissioner",
    "other_provider_manager",
    "other_council_manager",
    "other_council_commissioner",
]


@pytest.mark.parametrize("what", sorted(WRITES))
def test_goal_and_planned_visit_refusals_do_not_tell_existing_from_missing(cast, what):
    url, body = WRITES[what]
    before = (Goal.objects.count(), PlannedVisit.objects.count(), AuditEvent.objects.count())
    bodies = set()
    for who in REFUSED_WRITERS:
        c = client_for(cast.everyone()[who])
        # Peggy (Brightwater, Northshire), Reg (Riverside, Southvale), nobody.
        for su_id in (cast.peggy.id, cast.reg.id, UNKNOWN_ID):
            if (who, su_id) == ("other_council_manager", cast.reg.id):
                continue  # Reg is hers
            r = _post(c, url.format(su_id), body(cast))
            assert r.status_code == 404, (who, su_id, r.status_code)
            bodies.add(r.content)
    assert len(bodies) == 1 and json.loads(bodies.pop())["error"] == "not_found"
    assert (
        Goal.objects.count(),
        PlannedVisit.objects.count(),
        AuditEvent.objects.count(),
    ) == before
    # Peggy's own manager still writes.
    assert _post(client_for(cast.carol), url.format(cast.peggy.id), body(cast)).status_code == 201


def test_csv_import_is_not_there_for_anyone_but_care_managers(cast):
    csv = (
        "service_user_id,worker_id,date,start,end\n"
        f"{cast.peggy.id},{cast.anna.id},2026-03-04,09:00,09:30\n"
    )
    for who in ("care_worker", "nurse", "family", "commissioner", "other_council_commissioner"):
        r = _post(client_for(cast.everyone()[who]), "/api/visits/planned-import", {"csv": csv})
        assert r.status_code == 404 and r.json()["error"] == "not_found", who
    assert not PlannedVisit.objects.exists()


def test_alert_refusals_do_not_tell_existing_from_missing(cast, frozen_clock):
    say(cast.anna, cast.team, "She had a fall in the kitchen")
    drain()
    alert = Alert.objects.get()
    for who in (
        "care_worker",
        "family",
        "commissioner",
        "other_provider_manager",
        "other_council_manager",
        "other_council_commissioner",
    ):
        c = client_for(cast.everyone()[who])
        seen = {c.post(f"/api/alerts/{a}/ack").content for a in (alert.id, UNKNOWN_ID)}
        seen |= {c.get(f"/api/alerts/{a}").content for a in (alert.id, UNKNOWN_ID)}
        assert len(seen) == 1, (who, seen)
    assert Alert.objects.get().state == "open"


def test_pages_refuse_a_member_who_may_not_manage_like_an_outsider(cast):
    """The members page: a care worker in the family room gets the outsider's 404."""
    url = f"/people/{cast.peggy.id}/manage/members/"
    assert client_for(cast.anna).get(url).status_code == 404
    assert client_for(cast.far_manager).get(url).status_code == 404
    assert client_for(cast.carol).get(url).status_code == 200


def test_the_persons_a_careless_admin_might_pick_are_all_refused(cast, unlimited):
    """Every person in the database who is not Peggy's provider's (or its partner's) staff,
    Peggy, or her linked family is refused from both rooms — the rule holds for all rows,
    not only for the cast's named targets."""
    carol = client_for(cast.carol)
    own = {p.id for p in Person.objects.filter(organisation__in=[cast.provider, cast.health])}
    linked = {cast.margaret.id, cast.debbie.id}
    for p in Person.objects.exclude(id__in=own | linked):
        for room in (cast.team, cast.family):
            assert _add(carol, room.id, p.id).status_code == 404, p
