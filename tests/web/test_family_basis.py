"""Lawful basis per family member: pages and API, role × organisation × action.

Only the service user's provider's care manager (Carol, for Peggy) records, reviews or
revokes a family member's basis; the person's history choice for a member is recorded by
Carol or by Peggy herself. Everyone else — other roles, the other provider's manager, the
other council's manager — gets the one 404 body an unknown person gets, and nothing is
written. Odd input is a 422 that writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from cocare_chat import clock
from rooms.models import AuditEvent, FamilyBasis, Membership
from rooms.network import do_revoke_family_basis
from tests.support.cast import T0
from web.models import Invitation

pytestmark = pytest.mark.django_db
UNKNOWN = 9_000_000
REFUSED = {"error": "not_found", "message": "No such room or person."}
REVIEW = {"review_on": "2027-06-01"}
BASIS = {
    "basis": "best_interests",
    "decision": "MDT on 2 Mar: daughter kept informed",
    "review_on": "2027-03-02",
}


def client_for(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


def _post(c: Client, url: str, body: dict | None = None, method: str = "post"):
    return getattr(c, method)(url, json.dumps(body or {}), content_type="application/json")


def _snapshot() -> tuple:
    return (
        list(FamilyBasis.objects.order_by("id").values_list("id", "revoked_at", "review_on")),
        list(Membership.objects.order_by("id").values_list("id", "visible_from_seq")),
        AuditEvent.objects.exclude(action__endswith=".read").count(),
    )


def _api_actions(su: int, who: int) -> list[tuple[str, str, dict | None]]:
    base = f"/api/service-users/{su}/family"
    return [
        ("get", base, None),
        ("post", f"{base}/{who}/basis", BASIS),
        ("post", f"{base}/{who}/basis/revoke", None),
        ("post", f"{base}/{who}/basis/review", REVIEW),
        ("put", f"{base}/{who}/history", {"sees_history_before_join": True}),
    ]


def _call(c: Client, method: str, url: str, body):
    if method == "get":
        return c.get(url)
    return _post(c, url, body, method)


OUTSIDERS = [
    "care_worker",
    "nurse",
    "therapist",
    "family",
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


@pytest.mark.parametrize("who", OUTSIDERS)
def test_everyone_but_the_providers_manager_gets_the_same_404_and_nothing_is_written(cast, who):
    c = client_for(cast.everyone()[who])
    before = _snapshot()
    for method, url, body in _api_actions(cast.peggy.id, cast.debbie.id):
        r = _call(c, method, url, body)
        assert (r.status_code, r.json()) == (404, REFUSED), (who, method, url)
    for action in ("revoke", "review", "record", "history-all", "history-from-join"):
        r = c.post(f"/people/{cast.peggy.id}/manage/members/{cast.debbie.id}/{action}", REVIEW)
        assert r.status_code == 404, (who, action)
    assert c.get(f"/people/{cast.peggy.id}/manage/members/").status_code == 404
    assert _snapshot() == before


def test_the_manager_is_refused_the_same_way_across_tenants_and_for_non_family(cast):
    carol = client_for(cast.carol)
    before = _snapshot()
    targets = [
        (UNKNOWN, cast.debbie.id),  # no such service user
        (cast.reg.id, cast.rita.id),  # the other council's service user and daughter
        (cast.peggy.id, cast.rita.id),  # another person's family member under Peggy
        (cast.peggy.id, cast.anna.id),  # a care worker is not family
        (cast.peggy.id, cast.margaret.id),  # nor is Peggy herself
        (cast.peggy.id, UNKNOWN),
    ]
    for su, who in targets:
        for method, url, body in _api_actions(su, who):
            if method == "get" and su == cast.peggy.id:
                continue  # Carol may list Peggy's family
            r = _call(carol, method, url, body)
            assert (r.status_code, r.json()) == (404, REFUSED), (su, who, method, url)
    assert _snapshot() == before
    # The same request is fine for the other council's manager on her own person.
    fiona = client_for(cast.far_manager)
    r = _post(fiona, f"/api/service-users/{cast.reg.id}/family/{cast.rita.id}/basis/review", REVIEW)
    assert r.status_code == 200 and r.json()["review_on"] == "2027-06-01"


def test_the_manager_revokes_reviews_and_records_a_members_basis_through_the_api(cast):
    carol = client_for(cast.carol)
    base = f"/api/service-users/{cast.peggy.id}/family/{cast.debbie.id}"
    listing = carol.get(f"/api/service-users/{cast.peggy.id}/family").json()
    assert [m["name"] for m in listing["members"]] == ["Debbie Hughes"]
    assert [(b["person"], b["basis"]) for b in listing["bases"]] == [(cast.debbie.id, "consent")]
    r = _post(carol, f"{base}/basis/review", REVIEW)
    assert r.status_code == 200 and r.json()["review_on"] == "2027-06-01"
    r = _post(carol, f"{base}/basis", BASIS)
    assert r.status_code == 409  # one active basis per member: revoke first
    r = _post(carol, f"{base}/basis/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert _post(carol, f"{base}/basis/revoke").json() == REFUSED  # nothing left to revoke
    assert client_for(cast.debbie).get(f"/api/rooms/{cast.family.id}/messages").status_code == 404
    r = _post(carol, f"{base}/basis", BASIS)
    assert r.status_code == 201 and r.json()["decision"].startswith("MDT")
    assert client_for(cast.debbie).get(f"/api/rooms/{cast.family.id}/messages").status_code == 200
    actions = list(
        AuditEvent.objects.filter(target=f"person:{cast.debbie.id}", actor=cast.carol)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == ["family_basis.review", "family_basis.revoke", "family_basis.record"]


@pytest.mark.parametrize(
    "body",
    [
        {**BASIS, "basis": "LPA"},
        {**BASIS, "basis": "ｌpa", "lpa_reference": "x"},  # full-width look-alike
        {**BASIS, "basis": "lpa"},  # no reference
        {**BASIS, "decision": ""},  # best interests without the decision
        {**BASIS, "review_on": "9999-01-01"},
        {**BASIS, "review_on": "0001-01-01"},
        {**BASIS, "review_on": 20270302},
        {**BASIS, "notes": "x" * 501},
        {**BASIS, "extra": 1},
        {"basis": "consent"},  # no review date
    ],
)
def test_odd_basis_bodies_are_422_and_write_nothing(cast, body):
    carol = client_for(cast.carol)
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    before = _snapshot()
    r = _post(carol, f"/api/service-users/{cast.peggy.id}/family/{cast.debbie.id}/basis", body)
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body", [{"review_on": "2026-03-01"}, {"review_on": "2101-01-01"}, {"review_on": "x"}, {}]
)
def test_a_review_date_must_be_a_real_future_date(cast, frozen_clock, body):
    before = _snapshot()
    r = _post(
        client_for(cast.carol),
        f"/api/service-users/{cast.peggy.id}/family/{cast.debbie.id}/basis/review",
        body,
    )
    assert r.status_code == 422
    assert _snapshot() == before


def test_peggy_decides_whether_debbie_sees_earlier_history(cast):
    url = f"/api/service-users/{cast.peggy.id}/family/{cast.debbie.id}/history"
    m = Membership.objects.get(room=cast.family, person=cast.debbie)
    r = _post(client_for(cast.margaret), url, {"sees_history_before_join": False}, "put")
    assert r.status_code == 200 and r.json()["sees_history_before_join"] is False
    assert Membership.objects.get(pk=m.pk).visible_from_seq == m.joined_seq
    r = _post(client_for(cast.carol), url, {"sees_history_before_join": True}, "put")
    assert r.json()["sees_history_before_join"] is True
    assert Membership.objects.get(pk=m.pk).visible_from_seq == 0
    # Reg, on his own account, decides nothing for Peggy's daughter.
    r = _post(client_for(cast.reg_person), url, {"sees_history_before_join": False}, "put")
    assert (r.status_code, r.json()) == (404, REFUSED)


def test_reviews_due_are_shown_to_the_manager_on_home_members_page_and_api(cast, frozen_clock):
    FamilyBasis.objects.filter(person=cast.debbie).update(review_on=T0.date())
    FamilyBasis.objects.filter(person=cast.rita).update(review_on=T0.date())
    carol = client_for(cast.carol)
    home = carol.get("/").content.decode()
    assert 'class="reviews-due-count">1<' in home and "1 review due" in home
    members = carol.get(f"/people/{cast.peggy.id}/manage/members/").content.decode()
    assert "review due" in members
    due = carol.get("/api/family-bases/reviews-due").json()["due"]
    assert [d["person"] for d in due] == [cast.debbie.id]  # not Reg's daughter
    assert client_for(cast.anna).get("/api/family-bases/reviews-due").json()["due"] == []
    # Reviewed on the page: the count goes.
    clock.freeze(T0 + dt.timedelta(hours=1))
    r = carol.post(
        f"/people/{cast.peggy.id}/manage/members/{cast.debbie.id}/review",
        {"review_on": "2027-03-01"},
    )
    assert r.status_code == 302 and "done=" in r["Location"]
    assert "reviews-due-count" not in carol.get("/").content.decode()


def test_stop_sharing_and_record_again_on_the_members_page(cast):
    carol = client_for(cast.carol)
    page = f"/people/{cast.peggy.id}/manage/members/"
    assert "Stop sharing with Debbie Hughes" in carol.get(page).content.decode()
    r = carol.post(f"{page}{cast.debbie.id}/revoke")
    assert r.status_code == 302
    body = carol.get(page).content.decode()
    assert "no lawful basis: sees nothing" in body
    prefix = f"b{cast.debbie.id}"
    r = carol.post(
        f"{page}{cast.debbie.id}/record",
        {f"{prefix}-basis": "lpa", f"{prefix}-review_on": "2027-03-02"},
    )
    assert "error=" in r["Location"] and "reference" in r["Location"]
    assert not FamilyBasis.objects.filter(person=cast.debbie, revoked_at__isnull=True).exists()
    r = carol.post(
        f"{page}{cast.debbie.id}/record",
        {
            f"{prefix}-basis": "lpa",
            f"{prefix}-lpa_reference": "LPA-HW-77",
            f"{prefix}-review_on": "2027-03-02",
        },
    )
    assert "done=" in r["Location"]
    fb = FamilyBasis.objects.get(person=cast.debbie, revoked_at__isnull=True)
    assert (fb.basis, fb.lpa_reference, fb.recorded_by) == ("lpa", "LPA-HW-77", cast.carol)


INVITE = {
    "display_name": "Sam Hughes",
    "relationship": "grandson",
    "basis": {"basis": "consent", "notes": "Peggy agreed", "review_on": "2027-03-02"},
    "history_before_join": True,
}


def _invitations() -> list:
    return list(Invitation.objects.order_by("id").values_list("id", "cancelled_at"))


@pytest.mark.parametrize("who", [*OUTSIDERS, "service_user"])
def test_only_the_manager_invites_family_through_the_api(cast, who):
    c = client_for(cast.everyone()[who])
    before = (_snapshot(), _invitations())
    for su in (cast.peggy.id, UNKNOWN):
        r = _post(c, f"/api/service-users/{su}/family/invitations", INVITE)
        assert (r.status_code, r.json()) == (404, REFUSED)
    assert (_snapshot(), _invitations()) == before


def test_the_manager_invites_with_the_basis_and_the_link_records_it(cast):
    carol = client_for(cast.carol)
    r = _post(carol, f"/api/service-users/{cast.peggy.id}/family/invitations", INVITE)
    assert r.status_code == 201 and r.json()["basis"] == "consent"
    link = r.json()["link"].removeprefix("http://testserver")
    accepted = Client().post(
        link, {"username": "sam", "password": "lilac-harbour-71", "password2": "lilac-harbour-71"}
    )
    assert accepted.status_code == 302
    fb = FamilyBasis.objects.get(person__user__username="sam", revoked_at__isnull=True)
    assert (fb.basis, fb.notes, str(fb.review_on)) == ("consent", "Peggy agreed", "2027-03-02")
    assert Membership.objects.get(person=fb.person).history_before_join is True
    # Another council's manager cannot withdraw Carol's invitation; Carol can.
    r2 = _post(carol, f"/api/service-users/{cast.peggy.id}/family/invitations", INVITE)
    inv = r2.json()["id"]
    far = client_for(cast.far_manager)
    for su in (cast.peggy.id, cast.reg.id):
        r = _post(far, f"/api/service-users/{su}/family/invitations/{inv}/cancel")
        assert (r.status_code, r.json()) == (404, REFUSED)
    r = _post(carol, f"/api/service-users/{cast.peggy.id}/family/invitations/{inv}/cancel")
    assert r.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    "body",
    [
        {**INVITE, "basis": {"basis": "lpa", "review_on": "2027-03-02"}},
        {**INVITE, "basis": {"basis": "consent"}},
        {**INVITE, "days": 31},
        {**INVITE, "display_name": ""},
        {**INVITE, "surprise": 1},
        {k: v for k, v in INVITE.items() if k != "basis"},
    ],
)
def test_odd_invitation_bodies_are_422_and_write_nothing(cast, body):
    before = _invitations()
    r = _post(
        client_for(cast.carol), f"/api/service-users/{cast.peggy.id}/family/invitations", body
    )
    assert r.status_code == 422
    assert _invitations() == before


def test_peggy_withdraws_the_consent_she_gave_but_not_an_lpa(cast):
    peggy = client_for(cast.margaret)
    url = f"/api/service-users/{cast.peggy.id}/family/{cast.debbie.id}/basis/revoke"
    r = _post(peggy, url)
    assert r.status_code == 200 and r.json()["revoked_by"] == cast.margaret.id
    assert client_for(cast.debbie).get(f"/api/rooms/{cast.family.id}/messages").status_code == 404
    # An LPA is not hers to end here; the same refusal as for anything unknown.
    carol = client_for(cast.carol)
    lpa = {"basis": "lpa", "lpa_reference": "LPA-1", "review_on": "2027-03-02"}
    r = _post(carol, f"/api/service-users/{cast.peggy.id}/family/{cast.debbie.id}/basis", lpa)
    assert r.status_code == 201
    before = _snapshot()
    assert (_post(peggy, url).status_code, _post(peggy, url).json()) == (404, REFUSED)
    # Reg cannot withdraw anything for Peggy's daughter.
    assert _post(client_for(cast.reg_person), url).json() == REFUSED
    assert _snapshot() == before
