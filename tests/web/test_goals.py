"""Goals and "what matters to me": written by the care manager, the person, or family
the person agreed may; progress shown to the team; everyone else the one 404."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from bots.models import Goal, Observation
from rooms.models import AuditEvent, KeyInfoVersion, ServiceUser
from tests.support.cast import T0

pytestmark = pytest.mark.django_db
NOT_FOUND = {"error": "not_found", "message": "No such person."}


def client_for(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


def _j(c: Client, method: str, url: str, body: dict):
    return getattr(c, method)(url, json.dumps(body), content_type="application/json")


def _state() -> tuple:
    return (
        list(Goal.objects.order_by("id").values_list("id", "text", "active")),
        list(ServiceUser.objects.order_by("id").values_list("what_matters", flat=True)),
    )


def test_the_manager_and_the_person_write_goals_and_what_matters(cast):
    base = f"/api/service-users/{cast.peggy.id}"
    r = _j(client_for(cast.carol), "post", f"{base}/goals", {"text": "Walk to the shop"})
    assert r.status_code == 201
    r = _j(client_for(cast.margaret), "post", f"{base}/goals", {"text": "See my sister monthly"})
    assert r.status_code == 201
    r = _j(client_for(cast.margaret), "put", f"{base}/what-matters", {"what_matters": "Smudge"})
    assert r.status_code == 200 and r.json()["what_matters"] == "Smudge"
    # "What matters" is key information: versioned with who wrote it.
    v = KeyInfoVersion.objects.filter(service_user=cast.peggy).order_by("-version").first()
    assert (v.changed_fields, v.changed_by) == ("what_matters", cast.margaret)
    texts = [g["text"] for g in client_for(cast.anna).get(f"{base}/goals").json()["goals"]]
    assert texts == ["Walk to the shop", "See my sister monthly"]


def test_family_writes_only_with_the_persons_agreement(cast):
    base = f"/api/service-users/{cast.peggy.id}"
    debbie = client_for(cast.debbie)
    before = _state()
    assert _j(debbie, "post", f"{base}/goals", {"text": "Garden again"}).json() == NOT_FOUND
    assert debbie.get(f"{base}/goals").status_code == 404
    assert debbie.get(f"/people/{cast.peggy.id}/goals/").status_code == 404
    assert _state() == before
    # Peggy agrees, on her own account.
    r = _j(
        client_for(cast.margaret),
        "put",
        f"{base}/family/{cast.debbie.id}/goal-writer",
        {"may_write_goals": True},
    )
    assert r.status_code == 200 and r.json()["may_write_goals"] is True
    assert _j(debbie, "post", f"{base}/goals", {"text": "Garden again"}).status_code == 201
    page = debbie.get(f"/people/{cast.peggy.id}/goals/").content.decode()
    assert "Garden again" in page and "Add goal" in page
    # Debbie cannot end goals; Carol withdraws the agreement on the members page.
    g = Goal.objects.get(text="Garden again")
    assert _j(debbie, "post", f"{base}/goals/{g.id}/end", {}).status_code == 404
    r = client_for(cast.carol).post(
        f"/people/{cast.peggy.id}/manage/members/{cast.debbie.id}/goals-no"
    )
    assert r.status_code == 302
    assert _j(debbie, "post", f"{base}/goals", {"text": "Another"}).json() == NOT_FOUND
    assert AuditEvent.objects.filter(action="family_goals.set").count() == 2


OUTSIDERS = [
    "commissioner",
    "other_provider_manager",
    "other_provider_worker",
    "other_council_manager",
    "other_council_worker",
    "other_council_nurse",
    "other_council_commissioner",
    "other_council_service_user",
    "other_council_family",
    "unassigned_worker",
    "family",
]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsiders_get_the_same_404_and_write_nothing(cast, who):
    c = client_for(cast.everyone()[who])
    g = Goal.objects.create(service_user=cast.peggy, text="Walk", created_at=T0)
    base = f"/api/service-users/{cast.peggy.id}"
    before = _state()
    missing = client_for(cast.carol).get("/api/service-users/9000000/goals").json()
    assert missing == NOT_FOUND
    for r in (
        c.get(f"{base}/goals"),
        _j(c, "post", f"{base}/goals", {"text": "Hacked goal"}),
        _j(c, "put", f"{base}/what-matters", {"what_matters": "x"}),
    ):
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
    r = _j(c, "post", f"{base}/goals/{g.id}/end", {"achieved": True})
    assert (r.status_code, r.json()) == (404, {"error": "not_found", "message": "No such goal."})
    assert c.get(f"/people/{cast.peggy.id}/goals/").status_code == 404
    assert (
        c.post(f"/people/{cast.peggy.id}/goals/", {"what": "goal", "goal-text": "x"}).status_code
        == 404
    )
    assert _state() == before


@pytest.mark.parametrize("who", ["care_worker", "nurse", "therapist"])
def test_the_team_reads_progress_but_does_not_write(cast, who):
    c = client_for(cast.everyone()[who])
    base = f"/api/service-users/{cast.peggy.id}"
    before = _state()
    assert _j(c, "post", f"{base}/goals", {"text": "A goal"}).json() == NOT_FOUND
    assert c.get(f"{base}/goals").status_code == 200
    assert _state() == before


def test_care_workers_see_each_goals_progress(cast):
    g = Goal.objects.create(service_user=cast.peggy, text="Walk to the shop", created_at=T0)
    for days, score in ((1, 3), (2, 2), (3, 1)):
        Observation.objects.create(
            service_user=cast.peggy,
            domain="personal_goals",
            question_key="goal_progress",
            question_version=1,
            score=score,
            goal=g,
            at=T0 + dt.timedelta(days=days),
        )
    body = client_for(cast.anna).get(f"/api/service-users/{cast.peggy.id}/goals").json()
    [goal] = body["goals"]
    assert goal["trend"] == "better" and [p["score"] for p in goal["progress"]] == [1, 2, 3]
    page = client_for(cast.anna).get(f"/people/{cast.peggy.id}/goals/").content.decode()
    assert "Walk to the shop" in page and "better" in page and "good (5 Mar)" in page
    assert "Add goal" not in page


@pytest.mark.parametrize(
    "body",
    [{"text": "ab"}, {"text": "x" * 201}, {"text": 5}, {"text": "Walk", "extra": 1}, {}],
)
def test_odd_goal_bodies_are_422_and_write_nothing(cast, body):
    before = _state()
    r = _j(client_for(cast.carol), "post", f"/api/service-users/{cast.peggy.id}/goals", body)
    assert r.status_code == 422
    assert _state() == before


def test_the_manager_marks_a_goal_achieved_on_the_page(cast):
    g = Goal.objects.create(service_user=cast.peggy, text="Walk to the shop", created_at=T0)
    r = client_for(cast.carol).post(
        f"/people/{cast.peggy.id}/goals/", {"what": "achieved", "goal": str(g.id)}
    )
    assert r.status_code == 302
    g.refresh_from_db()
    assert not g.active and g.achieved_at is not None
