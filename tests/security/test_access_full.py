"""Role × resource × action over the HTTP API beyond rooms: alerts, key information,
visits, goals, and the audit of every read.

As in tests/test_access_matrix.py the expectations are DESIGN.md §4 written out by hand,
asked of both providers and both councils of the cast. A refusal is always 404 (ids and
rights cannot be probed); nothing ever answers 5xx. The number of cases is counted into
docs/reliability.md.
"""

from __future__ import annotations

import pytest

from escalation.models import Alert
from rooms.models import AuditEvent
from tests.escalation.helpers import drain, say
from tests.security.helpers import client_for

PEOPLE = (
    "service_user",
    "care_worker",
    "nurse",
    "therapist",
    "care_manager",
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
)
STAFF_ON_PEGGY = {"care_worker", "nurse", "therapist", "care_manager"}

# (resource, action) -> who succeeds. Everyone else must be refused with 404.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("alert", "list-sees-it"): {"care_manager"},
    ("alert", "read"): {"care_manager"},
    ("alert", "acknowledge"): {"care_manager"},
    ("alert", "tell-family"): {"care_manager"},
    ("key_info", "read"): STAFF_ON_PEGGY | {"service_user"},
    ("visits", "list"): STAFF_ON_PEGGY | {"service_user"},
    ("planned", "list"): STAFF_ON_PEGGY | {"service_user"},
    ("goals", "list"): STAFF_ON_PEGGY | {"service_user"},
    ("goals", "add"): {"care_manager"},
    ("concern", "raise-on-team-message"): STAFF_ON_PEGGY,
}


@pytest.fixture
def world(cast, frozen_clock):
    flagged = say(cast.anna, cast.team, "She had a fall in the kitchen")
    drain()
    return cast, Alert.objects.get(), flagged


def attempt(cast, alert, flagged, who: str, resource: str, action: str) -> tuple[bool, int]:
    c = client_for(cast.everyone()[who])
    su = cast.peggy.id
    if (resource, action) == ("alert", "list-sees-it"):
        r = c.get("/api/alerts")
        return r.status_code == 200 and alert.id in [a["id"] for a in r.json()], r.status_code
    calls = {
        ("alert", "read"): lambda: c.get(f"/api/alerts/{alert.id}"),
        ("alert", "acknowledge"): lambda: c.post(f"/api/alerts/{alert.id}/ack"),
        ("alert", "tell-family"): lambda: c.post(
            f"/api/alerts/{alert.id}/tell-family",
            {"text": "Mum is fine, resting now."},
            content_type="application/json",
        ),
        ("key_info", "read"): lambda: c.get(f"/api/service-users/{su}"),
        ("visits", "list"): lambda: c.get(f"/api/visits/service-users/{su}/visits"),
        ("planned", "list"): lambda: c.get(f"/api/visits/service-users/{su}/planned"),
        ("goals", "list"): lambda: c.get(f"/api/visits/service-users/{su}/goals"),
        ("goals", "add"): lambda: c.post(
            f"/api/visits/service-users/{su}/goals",
            {"text": "Walk to the shop"},
            content_type="application/json",
        ),
        ("concern", "raise-on-team-message"): lambda: c.post(
            "/api/alerts/concerns",
            {"message_id": flagged.id, "reason": "worried"},
            content_type="application/json",
        ),
    }
    r = calls[(resource, action)]()
    assert r.status_code < 500, (who, resource, action, r.content[:200])
    if r.status_code >= 400:
        assert r.status_code == 404, (who, resource, action, r.status_code)
    return r.status_code in (200, 201), r.status_code


@pytest.mark.parametrize(("resource", "action"), sorted(EXPECTED))
def test_role_resource_action(world, resource, action):
    """One case per person (len(PEOPLE) per row): refused people first, so a permitted
    action (an acknowledgement) cannot change what the others are tested against."""
    cast, alert, flagged = world
    allowed = EXPECTED[(resource, action)]
    got = {}
    for who in sorted(PEOPLE, key=lambda w: w in allowed):
        ok, code = attempt(cast, alert, flagged, who, resource, action)
        got[who] = (ok, code)
    assert {w for w, (ok, _) in got.items() if ok} == allowed, got


def test_council_gets_escalated_alerts_only_with_a_bounded_audited_context(cast, frozen_clock):
    for i in range(8):
        say(cast.anna, cast.team, f"Routine {i}")
    say(cast.anna, cast.team, "Her son took her bank card again")
    for i in range(8):
        say(cast.anna, cast.team, f"After {i}")
    drain()
    alert = Alert.objects.get()
    colin = client_for(cast.colin)
    view = colin.get(f"/api/alerts/{alert.id}").json()
    context = [m for f in view["flags"] for m in f.get("context") or []]
    assert 1 <= len(context) <= 5  # the flagged message and at most two either side
    assert not any(m["body"].startswith(("Routine 0", "Routine 5", "After 2")) for m in context)
    assert AuditEvent.objects.filter(actor=cast.colin, action="alert.context_read").exists()
    # Read-only, and no way to the room itself.
    assert colin.post(f"/api/alerts/{alert.id}/ack").status_code == 404
    assert colin.get(f"/api/rooms/{cast.team.id}/messages").status_code == 404
    assert colin.get(f"/api/service-users/{cast.peggy.id}").status_code == 404


READS = [
    ("room history", lambda cast: f"/api/rooms/{cast.team.id}/messages", "room.read"),
    (
        "key information",
        lambda cast: f"/api/service-users/{cast.peggy.id}",
        "service_user.key_info",
    ),
    (
        "planned visits",
        lambda cast: f"/api/visits/service-users/{cast.peggy.id}/planned",
        "planned_visit.list",
    ),
]


@pytest.mark.parametrize(("what", "url", "action"), READS, ids=[r[0] for r in READS])
def test_every_read_of_a_persons_record_is_audited_without_content(cast, what, url, action):
    say(cast.anna, cast.team, "Peggy has a pressure sore")
    before = AuditEvent.objects.count()
    assert client_for(cast.nadia).get(url(cast)).status_code == 200
    ev = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() == before + 1
    assert (ev.actor_id, ev.action, ev.service_user_id) == (cast.nadia.id, action, cast.peggy.id)
    assert "sore" not in f"{ev.action}|{ev.target}"


def test_refused_reads_are_not_answered_with_content(cast):
    say(cast.anna, cast.team, "Peggy has a pressure sore")
    for who in (
        "family",
        "commissioner",
        "unassigned_worker",
        "other_provider_manager",
        "other_council_manager",
        "other_council_commissioner",
        "other_council_nurse",
    ):
        c = client_for(cast.everyone()[who])
        for url in (
            f"/api/rooms/{cast.team.id}/messages",
            f"/api/service-users/{cast.peggy.id}",
            f"/api/rooms/{cast.team.id}/members",
        ):
            r = c.get(url)
            assert r.status_code == 404, (who, url)
            assert b"pressure sore" not in r.content and b"Key safe code" not in r.content
