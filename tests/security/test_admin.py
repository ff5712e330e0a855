"""The Django admin is not a second write path (docs/security.md "Admin").

Driven as an operator would: a superuser through the admin's own pages and forms. What
has an action goes through it (audit event, rooms, ``access.changed`` hint); the rest is
read-only.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client

from rooms.models import AuditEvent, FamilyBasis, Membership, Person, Room, ServiceUser
from rooms.publish import person_group
from tests.security.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("root", "root@example.org", "x-Root-9!")
    c = Client()
    c.force_login(user)
    return c


def _counts() -> tuple[int, ...]:
    return (
        Membership.objects.count(),
        FamilyBasis.objects.count(),
        AuditEvent.objects.count(),
        Room.objects.count(),
    )


def test_memberships_cannot_be_added_changed_or_deleted_in_the_admin(cast, admin):
    m = Membership.objects.get(room=cast.family, person=cast.debbie)
    before = _counts()
    assert admin.get("/admin/rooms/membership/").status_code == 200  # viewable
    add = admin.post(
        "/admin/rooms/membership/add/",
        {
            "room": cast.family.id,
            "person": cast.rita.id,
            "joined_at_0": "2026-03-02",
            "joined_at_1": "09:00:00",
            "visible_from_seq": 0,
        },
    )
    change = admin.post(
        f"/admin/rooms/membership/{m.id}/change/",
        {
            "room": cast.family.id,
            "person": cast.debbie.id,
            "joined_at_0": "2026-03-02",
            "joined_at_1": "09:00:00",
            "visible_from_seq": 0,
            "removed_at_0": "2026-03-02",
            "removed_at_1": "10:00:00",
        },
    )
    delete = admin.post(f"/admin/rooms/membership/{m.id}/delete/", {"post": "yes"})
    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert _counts() == before
    assert Membership.objects.get(pk=m.pk).removed_at is None
    assert not Membership.objects.filter(person=cast.rita, room=cast.family).exists()


def test_the_family_basis_is_not_edited_in_the_admin_but_revoked_through_the_action(
    cast, admin, django_capture_on_commit_callbacks
):
    fb = FamilyBasis.objects.get(service_user=cast.peggy)
    before = _counts()
    edits = [
        admin.post(
            "/admin/rooms/familybasis/add/",
            {
                "service_user": cast.reg.id,
                "basis": "consent",
                "recorded_by": cast.carol.id,
                "recorded_at_0": "2026-03-02",
                "recorded_at_1": "09:00:00",
            },
        ),
        admin.post(
            f"/admin/rooms/familybasis/{fb.id}/change/",
            {
                "service_user": cast.peggy.id,
                "basis": "consent",
                "recorded_by": cast.carol.id,
                "recorded_at_0": "2026-03-02",
                "recorded_at_1": "09:00:00",
                "revoked_at_0": "2026-03-02",
                "revoked_at_1": "10:00:00",
            },
        ),
        admin.post(f"/admin/rooms/familybasis/{fb.id}/delete/", {"post": "yes"}),
    ]
    assert [r.status_code for r in edits] == [403, 403, 403]
    assert _counts() == before and FamilyBasis.objects.get(pk=fb.pk).revoked_at is None

    # The revoke action: do_revoke_family_basis, so audited and open sockets told at once.
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(person_group(cast.debbie.id), channel)
    with django_capture_on_commit_callbacks(execute=True):
        r = admin.post(
            "/admin/rooms/familybasis/", {"action": "revoke", "_selected_action": [fb.id]}
        )
    assert r.status_code == 302
    assert FamilyBasis.objects.get(pk=fb.pk).revoked_at is not None
    assert AuditEvent.objects.filter(action="family_basis.revoke", service_user=cast.peggy).exists()

    async def hint():
        return await asyncio.wait_for(layer.receive(channel), 5)

    assert async_to_sync(hint)() == {"type": "access.changed", "room": cast.family.id}
    assert client_for(cast.debbie).get(f"/api/rooms/{cast.family.id}/messages").status_code == 404


def _service_user_form(cast, **extra) -> dict:
    return {
        "full_name": "Edith Walsh",
        "preferred_name": "",
        "provider": cast.provider.id,
        "council": cast.council.id,
        "person": "",
        "preferences": "",
        "what_matters": "",
        "communication_needs": "",
        "access_notes": "Farm track",
        "home_lat": "",
        "home_lon": "",
        "checkin_radius_m": 150,
        "location_exempt_reason": "",
        "family_history_from_join": "on",
        "commissioned_hours_per_week": "14",
        # What an old form would have asked for; the action sets it now.
        "created_at_0": "2026-03-02",
        "created_at_1": "09:00:00",
        "family_bases-TOTAL_FORMS": "0",
        "family_bases-INITIAL_FORMS": "0",
        "family_bases-MIN_NUM_FORMS": "0",
        "family_bases-MAX_NUM_FORMS": "1000",
        **extra,
    }


def test_a_service_user_created_in_the_admin_gets_both_rooms_and_an_audit_event(cast, admin):
    r = admin.post("/admin/rooms/serviceuser/add/", _service_user_form(cast))
    assert r.status_code == 302, r.content.decode()[:3000]
    edith = ServiceUser.objects.get(full_name="Edith Walsh")
    assert sorted(Room.objects.filter(service_user=edith).values_list("kind", flat=True)) == [
        "family",
        "professional",
    ]
    assert AuditEvent.objects.filter(action="service_user.create", service_user=edith).exists()
    assert edith.key_info_updated_at is not None


def test_a_service_user_cannot_be_given_a_council_as_provider_in_the_admin(cast, admin):
    r = admin.post(
        "/admin/rooms/serviceuser/add/", _service_user_form(cast, provider=cast.council.id)
    )
    assert r.status_code == 200 and b"errornote" in r.content  # a form error, not a 500
    assert not ServiceUser.objects.filter(full_name="Edith Walsh").exists()


def test_changing_a_service_user_in_the_admin_keeps_provider_and_is_audited(cast, admin):
    peggy = cast.peggy
    form = _service_user_form(
        cast,
        full_name=peggy.full_name,
        preferred_name="Peggy",
        provider=cast.far_provider.id,
        council=cast.other_council.id,
        access_notes="Key safe code 9999",
        preferences="Tea, one sugar",
        home_lat=peggy.home_lat,
        home_lon=peggy.home_lon,
    )
    form["family_bases-TOTAL_FORMS"] = form["family_bases-INITIAL_FORMS"] = "1"
    form["family_bases-0-id"] = FamilyBasis.objects.get(service_user=peggy).id
    form["family_bases-0-service_user"] = peggy.id
    r = admin.post(f"/admin/rooms/serviceuser/{peggy.id}/change/", form)
    assert r.status_code == 302, r.content.decode()[:3000]
    peggy.refresh_from_db()
    assert peggy.access_notes == "Key safe code 9999"
    assert (peggy.provider_id, peggy.council_id) == (cast.provider.id, cast.council.id)
    ev = AuditEvent.objects.get(action="service_user.update", service_user=peggy)
    assert "access_notes" in ev.target and "9999" not in ev.target
    assert (
        admin.post(f"/admin/rooms/serviceuser/{peggy.id}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_a_persons_role_and_organisation_are_fixed_in_the_admin(cast, admin):
    r = admin.post(
        f"/admin/rooms/person/{cast.debbie.id}/change/",
        {
            "display_name": "Debbie Hughes",
            "role": "care_worker",
            "organisation": cast.provider.id,
            "matrix_id": "",
        },
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    debbie = Person.objects.get(pk=cast.debbie.pk)
    assert (debbie.role, debbie.organisation_id) == ("family", None)


@pytest.mark.parametrize("model", ["room", "auditevent", "consumercursor", "consumerfailure"])
def test_the_record_and_the_consumers_state_are_read_only_in_the_admin(cast, admin, model):
    assert admin.get(f"/admin/rooms/{model}/").status_code == 200
    assert admin.get(f"/admin/rooms/{model}/add/").status_code == 403
    assert admin.post(f"/admin/rooms/{model}/add/", {}).status_code == 403
