"""Escalation set-up: the on-call rota and the provider's policy on pages and in the API,
validated, with a preview computed by the engine's own code.

Only a provider's care managers reach their own provider's set-up; everyone else gets
the one 404 and nothing is written. The preview of "if an alert opened now" is checked
against what the real detector and ticker then do.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from cocare_chat import clock
from escalation.models import Alert, OnCallShift, ProviderPolicy, StepRun
from rooms.models import AuditEvent, Role
from tests.escalation.helpers import drain, say
from tests.support.cast import T0, person

pytestmark = pytest.mark.django_db
NOT_FOUND = {"error": "not_found", "message": "Not found."}


def client_for(p) -> Client:
    c = Client()
    c.force_login(p.user)
    return c


def _j(c: Client, method: str, url: str, body=None):
    return getattr(c, method)(url, json.dumps(body or {}), content_type="application/json")


def _state() -> tuple:
    return (
        list(OnCallShift.objects.order_by("id").values_list("id", "person_id", "starts_at")),
        list(ProviderPolicy.objects.values_list("provider_id", "config")),
    )


def _shift(p, role="primary", start=0, hours=8) -> dict:
    s = T0 + dt.timedelta(minutes=start)
    return {
        "person": p.id,
        "role": role,
        "starts_at": s.isoformat(),
        "ends_at": (s + dt.timedelta(hours=hours)).isoformat(),
    }


NOT_MANAGERS = [
    "care_worker",
    "nurse",
    "therapist",
    "family",
    "service_user",
    "commissioner",
    "unassigned_worker",
    "other_provider_worker",
    "other_council_worker",
    "other_council_nurse",
    "other_council_commissioner",
    "other_council_service_user",
    "other_council_family",
]


@pytest.mark.parametrize("who", NOT_MANAGERS)
def test_only_care_managers_reach_the_set_up_and_others_write_nothing(cast, frozen_clock, who):
    c = client_for(cast.everyone()[who])
    shift = OnCallShift.objects.create(
        provider=cast.provider,
        person=cast.carol,
        role="primary",
        starts_at=T0,
        ends_at=T0 + dt.timedelta(hours=8),
    )
    before = _state()
    for r in (
        c.get("/api/escalation/rota"),
        _j(c, "post", "/api/escalation/rota", _shift(cast.carol)),
        c.delete(f"/api/escalation/rota/{shift.id}"),
        c.get("/api/escalation/policy"),
        _j(c, "put", "/api/escalation/policy", {"policy": {"steps": [{"type": "notify_council"}]}}),
        c.delete("/api/escalation/policy"),
        _j(c, "post", "/api/escalation/policy/preview", {}),
    ):
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
    for url in ("/escalation/rota/", "/escalation/policy/"):
        assert c.get(url).status_code == 404
        assert c.post(url, {"action": "save", "policy": "steps: []"}).status_code == 404
    assert c.post(f"/escalation/rota/{shift.id}/remove").status_code == 404
    assert _state() == before


@pytest.mark.parametrize("who", ["other_provider_manager", "other_council_manager"])
def test_another_providers_manager_sees_only_her_own_set_up(cast, frozen_clock, who):
    other = cast.everyone()[who]
    c = client_for(other)
    shift = OnCallShift.objects.create(
        provider=cast.provider,
        person=cast.carol,
        role="primary",
        starts_at=T0,
        ends_at=T0 + dt.timedelta(hours=8),
    )
    _j(
        client_for(cast.carol),
        "put",
        "/api/escalation/policy",
        {"policy": {"steps": [{"type": "notify_council"}]}},
    )
    before = _state()
    assert c.get("/api/escalation/rota").json()["shifts"] == []
    assert c.get("/api/escalation/policy").json()["policy"]["steps"][0]["type"] == "notify_role"
    unknown = c.delete("/api/escalation/rota/9000000")
    r = c.delete(f"/api/escalation/rota/{shift.id}")
    assert (r.status_code, r.json()) == (404, unknown.json())
    # Carol is not hers to put on call; Peggy is not hers to preview.
    r = _j(c, "post", "/api/escalation/rota", _shift(cast.carol))
    assert (r.status_code, r.json()) == (404, {"error": "not_found", "message": "No such person."})
    r = _j(c, "post", "/api/escalation/policy/preview", {"service_user": cast.peggy.id})
    assert (r.status_code, r.json()) == (404, {"error": "not_found", "message": "No such person."})
    assert c.post(f"/escalation/rota/{shift.id}/remove").status_code == 404
    assert "Carol" not in c.get("/escalation/rota/").content.decode()
    assert _state() == before


def _times(start: str, end: str) -> dict:
    return {"role": "primary", "starts_at": start, "ends_at": end}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (_times("2026-03-02T09:00:00+00:00", "2026-03-02T08:00:00+00:00"), "end after it starts"),
        (_times("2026-03-02T09:00:00+00:00", "2026-03-20T09:00:00+00:00"), "at most 14 days"),
        (_times("2026-03-02T09:00:00", "2026-03-02T17:00:00"), "time zone"),
        (_times("2099-12-31T23:00:00+00:00", "2100-01-01T05:00:00+00:00"), "2100-01-01"),
        (_times("0001-01-01T00:00:00+14:00", "2026-03-02T17:00:00+00:00"), "2000-01-01"),
        (_times("2026-03-01T09:00:00+00:00", "2026-03-01T17:00:00+00:00"), "already over"),
        (
            {**_times("2026-03-02T09:00:00+00:00", "2026-03-02T17:00:00+00:00"), "role": "boss"},
            "role",
        ),
        ({**_times("2026-03-02T09:00:00+00:00", "2026-03-02T17:00:00+00:00"), "extra": 1}, "extra"),
    ],
)
def test_odd_shifts_are_422_and_write_nothing(cast, frozen_clock, body, why):
    before = _state()
    r = _j(
        client_for(cast.carol), "post", "/api/escalation/rota", {**body, "person": cast.carol.id}
    )
    assert r.status_code == 422 and why.lower() in r.json()["message"].lower()
    assert _state() == before


def test_overlapping_shifts_of_one_person_are_refused(cast, frozen_clock):
    carol = client_for(cast.carol)
    assert _j(carol, "post", "/api/escalation/rota", _shift(cast.carol)).status_code == 201
    before = _state()
    r = _j(carol, "post", "/api/escalation/rota", _shift(cast.carol, start=60))
    assert r.status_code == 422 and "overlapping" in r.json()["message"]
    assert _state() == before
    # A deputy shift for her at the same time, or a later primary one, is fine.
    assert (
        _j(carol, "post", "/api/escalation/rota", _shift(cast.carol, "deputy")).status_code == 201
    )
    assert (
        _j(carol, "post", "/api/escalation/rota", _shift(cast.carol, start=480)).status_code == 201
    )
    assert AuditEvent.objects.filter(action="oncall.add", actor=cast.carol).count() == 3


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        ({"steps": []}, "steps"),
        (
            {"steps": [{"type": "notify_role"}, {"type": "repeat", "back_to": 3, "times": 1}]},
            "earlier step",
        ),
        ({"steps": [{"type": "wait", "minutes": 0}]}, "minutes"),
        ({"steps": [{"type": "email_everyone"}]}, "steps.0"),
        (
            {
                "steps": [{"type": "notify_role"}],
                "quiet_hours": {"start": "20:00", "end": "08:00", "timezone": "Mars/Olympus"},
            },
            "unknown time zone",
        ),
        (
            {"steps": [{"type": "notify_role"}], "council_at_once_for": ["apocalyptic"]},
            "council_at_once_for",
        ),
        ({"steps": [{"type": "notify_role"}], "surprise": True}, "surprise"),
    ],
)
def test_an_invalid_policy_is_422_with_the_reason_and_nothing_saved(cast, policy, why):
    before = _state()
    r = _j(client_for(cast.carol), "put", "/api/escalation/policy", {"policy": policy})
    assert r.status_code == 422 and why in r.json()["message"]
    page = client_for(cast.carol).post(
        "/escalation/policy/", {"action": "save", "policy": json.dumps(policy)}
    )
    assert page.status_code == 200 and why in page.content.decode()
    assert _state() == before


def test_a_non_finite_number_in_a_policy_is_refused(cast):
    before = _state()
    r = client_for(cast.carol).put(
        "/api/escalation/policy",
        '{"policy": {"steps": [{"type": "wait", "minutes": NaN}]}}',
        content_type="application/json",
    )
    assert r.status_code == 422
    page = client_for(cast.carol).post(
        "/escalation/policy/", {"action": "save", "policy": "steps: [ {type: wait"}
    )
    assert "not valid YAML" in page.content.decode()
    assert _state() == before


def test_the_preview_is_what_the_engine_then_does(cast, frozen_clock):
    """Rota and policy set on the pages; the preview's who-and-when equals the StepRuns
    the real detector and ticker produce for an alert opened at the same instant."""
    dev = person("dev", "Dev Deputy", Role.CARE_MANAGER, cast.provider)
    carol = client_for(cast.carol)
    r = carol.post(
        "/escalation/rota/",
        {
            "person": dev.id,
            "role": "deputy",
            "start_date": "2026-03-02",
            "start_time": "09:20",
            "end_date": "2026-03-02",
            "end_time": "18:00",
        },
    )
    assert r.status_code == 302, r.content.decode()[:3000]
    policy = (
        "steps:\n"
        "  - {type: notify_role}\n"
        "  - {type: wait, minutes: 10}\n"
        "  - {type: repeat, back_to: 0, times: 1}\n"
        "  - {type: notify_deputies}\n"
        "  - {type: wait, minutes: 20}\n"
        "  - {type: notify_council}\n"
        "council_at_once_for: []\n"
    )
    r = carol.post("/escalation/policy/", {"action": "save", "policy": policy})
    assert r.status_code == 302
    preview = _j(
        carol,
        "post",
        "/api/escalation/policy/preview",
        {"service_user": cast.peggy.id, "severity": "high"},
    ).json()["steps"]
    assert [(s["at"][11:16], s["audience"], s["recipients"]) for s in preview] == [
        ("09:00", "managers", ["Carol Evans"]),
        ("09:10", "managers", ["Carol Evans"]),
        ("09:20", "deputies", ["Dev Deputy"]),
        ("09:40", "council", ["Colin Price"]),
    ]
    page = carol.post(
        "/escalation/policy/",
        {"action": "preview", "policy": policy, "service_user": cast.peggy.id, "severity": "high"},
    ).content.decode()
    assert "Dev Deputy" in page and "Colin Price" in page
    # The engine: an alert opens at 09:00 and nobody acknowledges it.
    say(cast.anna, cast.team, "She fell in the kitchen")
    drain()
    alert = Alert.objects.get()
    assert alert.severity == "high"
    for minutes in range(0, 61, 5):
        clock.freeze(T0 + dt.timedelta(minutes=minutes))
        drain()
    runs = StepRun.objects.filter(alert=alert).exclude(step_type__in=["wait", "repeat"])
    names = {cast.carol.id: "Carol Evans", dev.id: "Dev Deputy", cast.colin.id: "Colin Price"}
    engine = [(r.due_at.isoformat(), r.audience, [names[p] for p in r.recipients]) for r in runs]
    assert engine == [(s["at"], s["audience"], s["recipients"]) for s in preview]


def test_a_draft_is_previewed_without_being_saved(cast, frozen_clock):
    before = _state()
    r = _j(
        client_for(cast.carol),
        "post",
        "/api/escalation/policy/preview",
        {
            "severity": "low",
            "policy": {"steps": [{"type": "notify_council"}], "council_at_once_for": []},
        },
    )
    assert [s["audience"] for s in r.json()["steps"]] == ["council"]
    assert _state() == before
