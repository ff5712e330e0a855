"""Council assessors read allocated cases only — the dashboard, summary, goals, visits and
escalated-alert context — never a room; every read is audited and the provider sees who
read. Asked across two providers and two councils: every refusal is the same 404.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.test import Client

from bots.schedule import GoalIn, check_add_goal
from cocare_chat import clock
from escalation.models import Alert
from rooms.access import access_assessed_record, allocated_service_users, assessor_allocated
from rooms.assessors import check_allocate, check_end_allocation, do_allocate
from rooms.errors import Invalid, NotFound
from rooms.models import AssessorAllocation, AuditEvent, Person, Role, ServiceUser
from rooms.network import do_add_member, do_create_service_user
from tests.escalation.helpers import drain, say
from tests.security.helpers import client_for
from tests.sensors.helpers import OtherTenant, other_tenant
from tests.support.cast import Cast, person

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
MISSING = 999_999


@dataclass
class World:
    cast: Cast
    south: OtherTenant
    ruth: Person  # assessor, Northshire (Peggy's council), allocated to Peggy for March
    sam: Person  # assessor, Southvale, allocated to Stan
    arthur: ServiceUser  # Northshire, the other provider; not allocated to Ruth
    escalated: Alert  # Peggy, escalated to the council
    local: Alert  # Peggy, handled by the provider only
    arthur_escalated: Alert


@pytest.fixture
def world(cast, frozen_clock) -> World:
    south = other_tenant()
    ruth = person("ruth", "Ruth Assessor", Role.ASSESSOR, cast.council)
    sam = person("sam", "Sam Southvale", Role.ASSESSOR, south.council)
    arthur = do_create_service_user(
        full_name="Arthur Patel",
        provider=cast.other_provider,
        council=cast.council,
        created_by=cast.other_manager,
    )
    do_allocate(
        ruth, cast.peggy, by=cast.colin, starts_on=dt.date(2026, 3, 2), ends_on=dt.date(2026, 3, 31)
    )
    do_allocate(sam, south.stan, by=cast.colin)
    check_add_goal(cast.carol, cast.peggy.id, GoalIn(text="Walk to the post box"))
    say(cast.anna, cast.team, "Morning, kettle on")
    say(cast.anna, cast.team, "He hit her")  # safeguarding: council at once
    say(cast.anna, cast.team, "I stayed until her son left")
    say(cast.anna, cast.team, "She refused her tablets")  # medication: provider only
    arthur_team = arthur.rooms.get(kind="professional")
    do_add_member(arthur_team, cast.other_manager, by=cast.other_manager, notify=False)
    say(cast.other_manager, arthur_team, "Neighbour threatened him")
    drain()
    return World(
        cast,
        south,
        ruth,
        sam,
        arthur,
        escalated=Alert.objects.get(service_user=cast.peggy, concern="safeguarding"),
        local=Alert.objects.get(service_user=cast.peggy, concern="medication"),
        arthur_escalated=Alert.objects.get(service_user=arthur),
    )


def dashboard_urls(su_id: int) -> list[str]:
    base = f"/dashboards/service-user/{su_id}"
    return [f"{base}/", f"{base}/summary/", f"{base}/today.json", f"{base}/export.csv"]


def test_an_allocated_assessor_reads_the_dashboard_summary_goals_and_visits(world):
    c = client_for(world.ruth)
    before = AuditEvent.objects.filter(actor=world.ruth).count()
    pages = {url: c.get(url) for url in dashboard_urls(world.cast.peggy.id)}
    assert {u: r.status_code for u, r in pages.items()} == dict.fromkeys(pages, 200)
    page = pages[dashboard_urls(world.cast.peggy.id)[0]].content.decode()
    assert "Walk to the post box" in page and "Allocated case" in page
    assert "Walk to the post box" in pages[dashboard_urls(world.cast.peggy.id)[1]].content.decode()
    actions = list(
        AuditEvent.objects.filter(actor=world.ruth)
        .order_by("id")
        .values_list("action", "service_user_id")[before:]
    )
    assert actions == [
        ("dashboard.read", world.cast.peggy.id),
        ("dashboard.read", world.cast.peggy.id),
        ("dashboard.poll", world.cast.peggy.id),
        ("dashboard.export", world.cast.peggy.id),
    ]
    index = c.get("/dashboards/").content.decode()
    assert "Peggy" in index and "Arthur" not in index
    assert list(allocated_service_users(world.ruth)) == [world.cast.peggy]


KINDS = [
    "dashboard",
    "summary",
    "today",
    "export",
    "key-info",
    "goals",
    "visits",
    "planned",
    "team-messages",
    "family-messages",
    "team-members",
    "person-page",
    "team-page",
    "family-page",
]


def refusals(c: Client, su_id: int) -> list[tuple[str, int, bytes]]:
    """Every record and room endpoint for ``su_id``, as this client sees it."""
    su = ServiceUser.objects.filter(pk=su_id).first()
    team = su.rooms.get(kind="professional").id if su else MISSING
    family = su.rooms.get(kind="family").id if su else MISSING
    urls = [
        *dashboard_urls(su_id),
        f"/api/service-users/{su_id}",
        f"/api/visits/service-users/{su_id}/goals",
        f"/api/visits/service-users/{su_id}/visits",
        f"/api/visits/service-users/{su_id}/planned",
        f"/api/rooms/{team}/messages",
        f"/api/rooms/{family}/messages",
        f"/api/rooms/{team}/members",
        f"/people/{su_id}/",
        f"/people/{su_id}/team/",
        f"/people/{su_id}/family/",
    ]
    return [
        (kind, r.status_code, r.content)
        for kind, u in zip(KINDS, urls, strict=True)
        for r in [c.get(u)]
    ]


def test_every_refusal_answers_the_same_404_as_a_person_who_does_not_exist(world):
    c = client_for(world.ruth)
    nobody = refusals(c, MISSING)
    assert {status for _, status, _ in nobody} == {404}
    for su in (world.arthur, world.south.stan):  # same council other provider; other council
        assert refusals(c, su.id) == nobody, su.full_name
    # Allocated to Peggy: her record yes, her rooms and key information never.
    record = {"dashboard", "summary", "today", "export"}
    peggy = [x for x in refusals(c, world.cast.peggy.id) if x[0] not in record]
    assert peggy == [x for x in nobody if x[0] not in record]
    with pytest.raises(Invalid):
        do_add_member(world.cast.team, world.ruth, by=world.cast.carol)


def test_after_the_allocation_ends_the_same_404(world):
    c = client_for(world.ruth)
    nobody = refusals(c, MISSING)
    url = dashboard_urls(world.cast.peggy.id)[0]
    clock.freeze(dt.datetime(2026, 3, 31, 22, 59, tzinfo=dt.UTC))  # 23:59 BST on the 31st
    assert c.get(url).status_code == 200
    clock.freeze(dt.datetime(2026, 3, 31, 23, 0, tzinfo=dt.UTC))  # 1 April, local
    assert refusals(c, world.cast.peggy.id) == nobody
    assert c.get(f"/api/alerts/{world.escalated.id}").status_code == 404

    # Ended early by the council: access stops at once.
    clock.freeze(dt.datetime(2026, 3, 10, 9, tzinfo=dt.UTC))
    assert c.get(url).status_code == 200
    allocation = AssessorAllocation.objects.get(assessor=world.ruth)
    check_end_allocation(world.cast.colin, allocation.id)
    assert c.get(url).status_code == 404
    assert not assessor_allocated(world.ruth, world.cast.peggy)


def test_another_councils_assessor_gets_404_and_cannot_be_allocated(world):
    c = client_for(world.sam)
    nobody = refusals(c, MISSING)
    assert refusals(c, world.cast.peggy.id) == nobody
    assert c.get(f"/api/alerts/{world.escalated.id}").status_code == 404
    with pytest.raises(Invalid):
        do_allocate(world.sam, world.cast.peggy, by=world.cast.colin)
    # Even a row that says otherwise (an assessor who moved council) grants nothing.
    AssessorAllocation.objects.create(
        assessor=world.sam,
        service_user=world.cast.peggy,
        starts_on=dt.date(2026, 1, 1),
        allocated_by=world.cast.colin,
        allocated_at=clock.now(),
    )
    assert refusals(c, world.cast.peggy.id) == nobody
    with pytest.raises(NotFound):
        access_assessed_record(world.sam, world.cast.peggy.id)
    assert c.get(dashboard_urls(world.south.stan.id)[0]).status_code == 200


def test_an_assessor_reads_escalated_alerts_with_the_context_window_only(world):
    c = client_for(world.ruth)
    listed = [a["id"] for a in c.get("/api/alerts?state=all").json()]
    assert listed == [world.escalated.id]
    r = c.get(f"/api/alerts/{world.escalated.id}")
    assert r.status_code == 200
    (flag,) = r.json()["flags"]
    assert [m["body"] for m in flag["context"]] == [
        "Morning, kettle on",
        "He hit her",
        "I stayed until her son left",
        "She refused her tablets",
    ]
    assert AuditEvent.objects.filter(actor=world.ruth, action="alert.context_read").count() == 1
    for alert in (world.local, world.arthur_escalated):
        assert c.get(f"/api/alerts/{alert.id}").content == c.get(f"/api/alerts/{MISSING}").content
    for action in ("ack", "resolve", "reopen", "tell-family"):
        assert c.post(
            f"/api/alerts/{world.escalated.id}/{action}", {}, content_type="application/json"
        ).status_code in (404, 422)
    assert Alert.objects.get(pk=world.escalated.id).state == "open"
    assert c.get(f"/alerts/{world.escalated.id}/").status_code == 200
    assert c.get(f"/alerts/{world.local.id}/").status_code == 404


def test_the_provider_manager_sees_which_assessor_read_the_record(world):
    ruth = client_for(world.ruth)
    ruth.get(dashboard_urls(world.cast.peggy.id)[0])
    ruth.get(dashboard_urls(world.cast.peggy.id)[1])
    ruth.get(f"/api/alerts/{world.escalated.id}")
    url = f"/api/service-users/{world.cast.peggy.id}/record-reads"
    r = client_for(world.cast.carol).get(url)
    assert r.status_code == 200
    body = r.json()
    (reader,) = [x for x in body["readers"] if x["reader"]["id"] == world.ruth.id]
    assert reader["reader"] == {
        "id": world.ruth.id,
        "name": "Ruth Assessor",
        "role": "assessor",
        "organisation": "Northshire Council",
    }
    assert reader["reads"] == 4  # two pages, the alert, its context window
    ruths = [x["action"] for x in body["reads"] if x["reader"]["id"] == world.ruth.id]
    assert ruths == ["alert.context_read", "alert.read", "dashboard.read", "dashboard.read"]
    assert "hit" not in r.content.decode()  # who and when, never content
    assert AuditEvent.objects.filter(actor=world.cast.carol, action="record_reads.read").exists()
    page = client_for(world.cast.carol).get(f"/people/{world.cast.peggy.id}/manage/record-reads/")
    assert page.status_code == 200 and "Ruth Assessor" in page.content.decode()

    missing = client_for(world.cast.carol).get(f"/api/service-users/{MISSING}/record-reads")
    for who in (
        world.cast.other_manager,
        world.south.manager,
        world.ruth,
        world.cast.colin,
        world.cast.anna,
        world.cast.nadia,
        world.cast.debbie,
        world.cast.margaret,
    ):
        c = client_for(who)
        got = c.get(url)
        assert (got.status_code, got.content) == (404, missing.content), who.display_name
        assert c.get(f"/people/{world.cast.peggy.id}/manage/record-reads/").status_code == 404
    assert client_for(world.cast.carol).get(
        f"{url}?since=0001-01-01T00:00:00%2B14:00"
    ).status_code in (400, 422)


def test_only_the_councils_commissioner_allocates_its_assessors(world):
    sue = person("sue", "Sue Second", Role.ASSESSOR, world.cast.council)
    for actor in (world.cast.carol, world.south.manager, world.ruth, world.cast.anna):
        with pytest.raises(NotFound):
            check_allocate(actor, sue.id, world.arthur.id)
    with pytest.raises(NotFound):  # another council's assessor: not found from here
        check_allocate(world.cast.colin, world.sam.id, world.arthur.id)
    check_allocate(world.cast.colin, sue.id, world.arthur.id)
    assert assessor_allocated(sue, world.arthur)
    assert not assessor_allocated(sue, world.cast.peggy)
    assert AuditEvent.objects.filter(
        actor=world.cast.colin, action="assessor.allocate", service_user=world.arthur
    ).exists()
