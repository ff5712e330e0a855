"""Family invitations: lawful basis first, single-use hashed links with expiry, clear pages
for every dead link, and nothing half-written when redeeming fails."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from cocare_chat import clock
from rooms.access import visible_rooms
from rooms.messages import check_post_message
from rooms.models import FamilyBasis, Membership, Person
from rooms.network import do_revoke_family_basis
from tests.support.cast import T0
from web.invitations import token_hash
from web.models import Invitation

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "lilac-harbour-71"


def manager(cast) -> Client:
    c = Client()
    c.force_login(cast.carol.user)
    return c


BASIS = {"basis": "consent", "basis_notes": "Peggy agreed, 2 Mar", "review_on": "2027-03-02"}


def invite(cast, **extra) -> str:
    r = manager(cast).post(
        f"/people/{cast.peggy.id}/manage/members/",
        {"display_name": "Sam Hughes", "relationship": "grandson", "days": 7, **BASIS, **extra},
    )
    assert r.status_code == 200
    m = re.search(rb'value="(http://testserver/invite/[^"]+/)"', r.content)
    assert m, r.content.decode()[:2000]
    return m.group(1).decode().removeprefix("http://testserver")


def accept(url: str, username="sam", password=GOOD_PASSWORD, password2=None):
    return Client().post(
        url, {"username": username, "password": password, "password2": password2 or password}
    )


def test_invitee_sets_a_password_and_joins_the_family_room_only(cast, frozen_clock):
    url = invite(cast)
    inv = Invitation.objects.get()
    token = url.split("/")[2]
    assert inv.token_hash == token_hash(token) and token not in inv.token_hash
    assert inv.expires_at == T0 + dt.timedelta(days=7)
    page = Client().get(url)
    assert page.status_code == 200 and b"Welcome, Sam Hughes" in page.content
    r = accept(url)
    assert r.status_code == 302 and r["Location"] == "/"
    sam = Person.objects.get(user__username="sam")
    assert sam.role == "family" and sam.display_name == "Sam Hughes"
    assert [room.kind for room in visible_rooms(sam)] == ["family"]
    assert Invitation.objects.get().used_by == sam
    c = Client()
    assert c.login(username="sam", password=GOOD_PASSWORD)
    assert c.get(f"/people/{cast.peggy.id}/family/").status_code == 200
    assert c.get(f"/people/{cast.peggy.id}/team/").status_code == 404


def test_a_used_link_gets_a_clear_page_and_creates_nothing_more(cast):
    url = invite(cast)
    assert accept(url).status_code == 302
    again = Client().get(url)
    assert again.status_code == 410 and b"already been used" in again.content
    r = accept(url, username="sam2")
    assert r.status_code == 410
    assert not get_user_model().objects.filter(username="sam2").exists()


def test_an_expired_link_gets_a_clear_page(cast, frozen_clock):
    url = invite(cast, days=1)
    clock.freeze(T0 + dt.timedelta(days=1, seconds=1))
    r = Client().get(url)
    assert r.status_code == 410 and b"has expired" in r.content
    assert accept(url).status_code == 410
    assert not Person.objects.filter(display_name="Sam Hughes").exists()


def test_unknown_and_withdrawn_links(cast):
    assert Client().get("/invite/not-a-real-token/").status_code == 404
    url = invite(cast)
    inv = Invitation.objects.get()
    r = manager(cast).post(f"/people/{cast.peggy.id}/manage/invitations/{inv.id}/cancel")
    assert r.status_code == 302
    assert b"withdrawn" in Client().get(url).content


def test_a_weak_password_or_taken_username_writes_nothing(cast):
    url = invite(cast)
    r = accept(url, password="password")
    assert r.status_code == 200 and b"too common" in r.content
    r = accept(url, username="anna")
    assert r.status_code == 200 and b"username is taken" in r.content
    r = accept(url, password2="different-one-99")
    assert b"two passwords are different" in r.content
    assert Invitation.objects.get().used_at is None
    assert not Person.objects.filter(display_name="Sam Hughes").exists()
    assert accept(url).status_code == 302  # the link still works afterwards


def test_inviting_needs_the_invitees_own_basis_which_accepting_records_for_them(cast):
    c = manager(cast)
    page = f"/people/{cast.peggy.id}/manage/members/"
    r = c.post(page, {"display_name": "Sam Hughes", "days": 7})
    assert b"This field is required" in r.content and not Invitation.objects.exists()
    r = c.post(page, {"display_name": "Sam Hughes", "days": 7, **BASIS, "basis": "lpa"})
    assert b"needs its reference" in r.content and not Invitation.objects.exists()
    r = c.post(page, {"display_name": "Sam Hughes", "days": 7, **BASIS, "basis": "best_interests"})
    assert b"needs the decision" in r.content and not Invitation.objects.exists()
    url = invite(cast, basis="lpa", lpa_reference="LPA-HW-2231", basis_notes="seen 2 Mar")
    assert not FamilyBasis.objects.filter(person__display_name="Sam Hughes").exists()
    assert accept(url).status_code == 302
    sam = Person.objects.get(user__username="sam")
    fb = FamilyBasis.objects.get(service_user=cast.peggy, person=sam, revoked_at__isnull=True)
    assert (fb.basis, fb.lpa_reference, fb.recorded_by) == ("lpa", "LPA-HW-2231", cast.carol)
    assert fb.review_on == dt.date(2027, 3, 2)
    # Debbie's own basis is untouched: one row each.
    assert FamilyBasis.objects.filter(person=cast.debbie, revoked_at__isnull=True).count() == 1


def test_revoking_another_members_basis_leaves_a_pending_link_usable(cast):
    url = invite(cast)
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    assert accept(url).status_code == 302
    sam = Person.objects.get(user__username="sam")
    assert [r.kind for r in visible_rooms(sam)] == ["family"]
    assert list(visible_rooms(cast.debbie)) == []


def test_the_persons_history_choice_for_the_invitee_decides_what_they_see(cast):
    check_post_message(person=cast.anna, room_id=cast.family.id, body="Peggy had a good day")
    url = invite(cast, history_before_join="on")
    assert accept(url).status_code == 302
    m = Membership.objects.get(person__user__username="sam")
    assert m.visible_from_seq == 0 and m.joined_seq > 0
    url = invite(cast, display_name="Jo Hughes")
    assert accept(url, username="jo").status_code == 302
    m = Membership.objects.get(person__user__username="jo")
    assert m.visible_from_seq == m.joined_seq > 0


@pytest.mark.parametrize("who", ["anna", "debbie", "nadia", "colin", "other_manager"])
def test_only_the_providers_care_manager_can_invite(cast, who):
    c = Client()
    c.force_login(getattr(cast, who).user)
    r = c.post(f"/people/{cast.peggy.id}/manage/members/", {"display_name": "X", "days": 7})
    assert r.status_code in (403, 404)
    assert not Invitation.objects.exists()
