"""The upgrade to one lawful basis per family member keeps everyone's access as it was.

Rooms 0007–0009 and web 0002 (issue 14): every family member who held a family-room
membership gets a copy of the per-service-user basis (active or revoked, as it was), a
review date a year after it was recorded; a pending invitation inherits the basis so it
still redeems; ``joined_seq`` and the history choice are filled from the old rows.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from rooms.access import visible_rooms
from rooms.models import FamilyBasis, Membership, Person
from web.models import Invitation

BEFORE = [("rooms", "0006_participant_keys_and_health_partners"), ("web", "0001_invitation")]
AFTER = [("rooms", "0009_h14b_basis_person_required"), ("web", "0002_h14b_invitation_basis")]
T = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


def _old_world(apps) -> dict[str, int]:
    Org = apps.get_model("rooms", "Organisation")  # noqa: N806
    OldPerson = apps.get_model("rooms", "Person")  # noqa: N806
    SU = apps.get_model("rooms", "ServiceUser")  # noqa: N806
    Room = apps.get_model("rooms", "Room")  # noqa: N806
    M = apps.get_model("rooms", "Membership")  # noqa: N806
    Msg = apps.get_model("rooms", "Message")  # noqa: N806
    FB = apps.get_model("rooms", "FamilyBasis")  # noqa: N806
    Inv = apps.get_model("web", "Invitation")  # noqa: N806
    council = Org.objects.create(name="Northshire", kind="council")
    provider = Org.objects.create(name="Brightwater", kind="provider", commissioned_by=council)
    carol = OldPerson.objects.create(
        display_name="Carol", role="care_manager", organisation=provider
    )
    debbie = OldPerson.objects.create(display_name="Debbie", role="family")
    dan = OldPerson.objects.create(display_name="Dan", role="family")
    rita = OldPerson.objects.create(display_name="Rita", role="family")
    peggy = SU.objects.create(full_name="Peggy", provider=provider, council=council, created_at=T)
    arthur = SU.objects.create(full_name="Arthur", provider=provider, council=council, created_at=T)
    fam = Room.objects.create(service_user=peggy, kind="family", created_at=T, last_seq=3)
    Room.objects.create(service_user=peggy, kind="professional", created_at=T)
    afam = Room.objects.create(service_user=arthur, kind="family", created_at=T)
    Room.objects.create(service_user=arthur, kind="professional", created_at=T)
    for seq in (1, 2, 3):
        Msg.objects.create(
            room=fam, seq=seq, sender=carol, body="x", created_at=T + dt.timedelta(hours=seq)
        )
    # Debbie joined before anything was said; Dan after message 2, shown everything.
    M.objects.create(room=fam, person=debbie, joined_at=T, visible_from_seq=0)
    M.objects.create(
        room=fam, person=dan, joined_at=T + dt.timedelta(hours=2, minutes=30), visible_from_seq=0
    )
    M.objects.create(room=afam, person=rita, joined_at=T, visible_from_seq=0)
    FB.objects.create(service_user=peggy, basis="consent", recorded_by=carol, recorded_at=T)
    FB.objects.create(
        service_user=arthur,
        basis="lpa",
        recorded_by=carol,
        recorded_at=T,
        revoked_at=T,
        revoked_by=carol,
    )
    Inv.objects.create(
        service_user=peggy,
        display_name="Sam",
        token_hash="a" * 64,
        created_by=carol,
        created_at=T,
        expires_at=T + dt.timedelta(days=7),
    )
    return {"debbie": debbie.id, "dan": dan.id, "rita": rita.id, "peggy": peggy.id}


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_gives_each_family_member_their_own_copy_of_the_basis():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        ids = _old_world(executor.loader.project_state(BEFORE).apps)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    debbie, dan, rita = (Person.objects.get(pk=ids[k]) for k in ("debbie", "dan", "rita"))
    assert not FamilyBasis.objects.filter(person__isnull=True).exists()
    for p in (debbie, dan):
        fb = FamilyBasis.objects.get(person=p)
        assert (fb.basis, fb.revoked_at, fb.review_on) == ("consent", None, dt.date(2027, 1, 5))
        assert [r.kind for r in visible_rooms(p)] == ["family"]
    # Arthur's basis had been revoked: Rita's copy is revoked too, and she sees nothing.
    assert FamilyBasis.objects.get(person=rita).revoked_at == T
    assert list(visible_rooms(rita)) == []
    m_debbie = Membership.objects.get(person=debbie)
    m_dan = Membership.objects.get(person=dan)
    assert (m_debbie.joined_seq, m_debbie.history_before_join) == (0, False)
    assert (m_dan.joined_seq, m_dan.visible_from_seq, m_dan.history_before_join) == (2, 0, True)
    inv = Invitation.objects.get()
    assert (inv.basis, inv.basis_review_on) == ("consent", dt.date(2027, 1, 5))
