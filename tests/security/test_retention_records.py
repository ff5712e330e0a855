"""Retention beyond messages: visits' positions and text, alerts' outcomes, observations'
answerers — blanked after the period, counts kept, legal hold respected; the retention
worker runs on its timer column; the policy and holds on pages and in the API (audited,
access across providers and councils)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from bots.models import Observation, Visit
from escalation.alerts import do_flag, do_resolve
from escalation.models import Alert, AlertEvent
from rooms.health import Thresholds, core_checks
from rooms.messages import check_post_message
from rooms.models import AuditEvent, LegalHold, RetentionPolicy
from rooms.retention import RetentionTicker, apply_retention, set_policy
from rooms.workers import load_workers
from tests.support.cast import T0

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def visit(su, worker, at, **kw):
    return Visit.objects.create(
        service_user=su,
        worker=worker,
        checked_in_at=at,
        checked_out_at=at + dt.timedelta(minutes=30),
        duration_minutes=30,
        checkin_location=Visit.Location.OUT_OF_RANGE,
        checkin_lat=53.1,
        checkin_lon=-2.1,
        checkin_accuracy_m=20,
        checkin_distance_m=800,
        checkout_location=Visit.Location.IN_RANGE,
        checkout_lat=53.48,
        checkout_lon=-2.24,
        exception_reason="Parked at my sister's",
        checkout_reason="Left from the day centre",
        **kw,
    )


def alert(cast, su_room, who, at):
    msg = check_post_message(person=who, room_id=su_room.id, body="She fell", now=at).message
    f = do_flag(
        message=msg,
        rule="manual",
        concern="falls",
        severity="high",
        source="manual",
        now=at,
        raised_by=who,
    )
    a = Alert.objects.get(pk=f.flag.alert_id)
    do_resolve(a, cast.carol if su_room == cast.team else cast.far_manager, "GP visited", at)
    return Alert.objects.get(pk=a.pk)


def obs(su, who, at):
    return Observation.objects.create(
        service_user=su,
        domain="health",
        question_key="pain",
        question_version=1,
        score=2,
        answered_by=who,
        at=at,
    )


def test_positions_text_and_answerers_are_blanked_and_counts_kept(cast):
    old = visit(cast.peggy, cast.anna, T0)
    recent_pos = visit(cast.peggy, cast.anna, T0 + 50 * DAY)
    reg_old = visit(cast.reg, cast.far_worker, T0)
    a = alert(cast, cast.team, cast.anna, T0)
    o = obs(cast.peggy, cast.anna, T0)
    set_policy(cast.provider, 90, position_days=30, now=T0)
    r = apply_retention(T0 + 60 * DAY)
    assert r.records >= 1
    old.refresh_from_db()
    assert (old.checkin_lat, old.checkin_lon, old.checkout_lat, old.checkin_accuracy_m) == (
        None,
        None,
        None,
        None,
    )
    # kept for dashboards and payroll: outcome, distance, times, duration
    assert (old.checkin_location, old.checkin_distance_m, old.duration_minutes) == (
        "out_of_range",
        800,
        30,
    )
    assert old.exception_reason == "Parked at my sister's"  # content period not over yet
    recent_pos.refresh_from_db()
    assert recent_pos.checkin_lat == 53.1  # within the position period
    a.refresh_from_db()
    assert a.outcome == "GP visited"
    apply_retention(T0 + 100 * DAY)
    old.refresh_from_db(), a.refresh_from_db(), o.refresh_from_db()
    assert (old.exception_reason, old.checkout_reason, a.outcome) == ("", "", "")
    assert not AlertEvent.objects.filter(alert=a).exclude(note="").exists()
    assert (a.concern, a.state, a.opened_at) == ("falls", "resolved", T0)
    assert (o.score, o.domain, o.answered_by_id) == (2, "health", None)
    # another provider without a policy: untouched
    reg_old.refresh_from_db()
    assert reg_old.checkin_lat == 53.1 and reg_old.exception_reason
    # idempotent
    assert apply_retention(T0 + 101 * DAY).records == 0


def test_a_legal_hold_keeps_visits_alerts_and_observations(cast):
    v = visit(cast.peggy, cast.anna, T0)
    a = alert(cast, cast.team, cast.anna, T0)
    o = obs(cast.peggy, cast.anna, T0)
    LegalHold.objects.create(
        service_user=cast.peggy, reason="S42 enquiry", placed_by=cast.carol, placed_at=T0
    )
    set_policy(cast.provider, 30, now=T0)
    assert apply_retention(T0 + 365 * DAY).records == 0
    v.refresh_from_db(), a.refresh_from_db(), o.refresh_from_db()
    assert v.checkin_lat == 53.1 and a.outcome == "GP visited" and o.answered_by_id


def test_the_retention_worker_runs_each_policy_once_a_day_on_its_timer(cast):
    assert [w.name for w in load_workers(["retention"])] == ["retention"]
    v = visit(cast.peggy, cast.anna, T0)
    set_policy(cast.provider, 30, now=T0 + 40 * DAY)
    pol = RetentionPolicy.objects.get(provider=cast.provider)
    assert pol.next_run_at == T0 + 40 * DAY
    t = RetentionTicker()
    assert t.run_once(T0 + 40 * DAY - dt.timedelta(seconds=1)) == 0  # not due yet
    assert t.run_once(T0 + 40 * DAY) == 1
    v.refresh_from_db()
    assert v.checkin_lat is None
    pol.refresh_from_db()
    assert pol.next_run_at == T0 + 41 * DAY
    assert t.run_once(T0 + 40 * DAY + dt.timedelta(hours=23)) == 0  # ran today already
    # `manage.py health` finds a run more than the grace past due (the worker is down)
    th = Thresholds()
    assert not [f for f in core_checks(T0 + 41 * DAY, th) if f.subject == "retention runs"]
    late = [
        f for f in core_checks(T0 + 41 * DAY + th.grace * 2, th) if f.subject == "retention runs"
    ]
    assert len(late) == 1
    assert t.run_once(T0 + 41 * DAY) == 1


def client(person) -> Client:
    c = Client()
    c.force_login(person.user)
    return c


def _api(c, method, url, body=None):
    return getattr(c, method)(url, data=json.dumps(body or {}), content_type="application/json")


def test_policy_and_holds_on_pages_and_api_are_audited(cast):
    c = client(cast.carol)
    assert c.get("/retention/").status_code == 200
    r = c.post("/retention/policy", {"message_days": "400", "position_days": "90"})
    assert r.status_code == 302
    pol = RetentionPolicy.objects.get(provider=cast.provider)
    assert (pol.message_days, pol.position_days) == (400, 90)
    assert AuditEvent.objects.filter(
        action="retention.policy_set", actor=cast.carol, target="days:400|positions:90"
    ).exists()
    # odd input: nothing changes, a clear message
    for bad in (
        {"message_days": "5"},
        {"message_days": "abc"},
        {"message_days": "1e9"},
        {"message_days": "30", "position_days": "60"},
        {"position_days": "10"},
    ):
        r = c.post("/retention/policy", bad)
        assert "error=" in r["Location"], bad
    for bad in (
        {"message_days": 5},
        {"message_days": 10**30},
        {"message_days": 1.5},
        {"message_days": 90, "extra": 1},
        {"message_days": "NaN"},
    ):
        assert _api(c, "put", "/api/retention/policy", bad).status_code == 422, bad
    pol.refresh_from_db()
    assert (pol.message_days, pol.position_days) == (400, 90)
    # holds
    c.post(f"/retention/holds/{cast.peggy.id}/place", {"reason": "Safeguarding enquiry"})
    assert "On hold" in c.get("/retention/").content.decode()
    assert LegalHold.objects.filter(service_user=cast.peggy, released_at__isnull=True).exists()
    assert (
        _api(c, "post", f"/api/retention/holds/{cast.peggy.id}", {"reason": "again"}).status_code
        == 201
    )
    assert AuditEvent.objects.filter(action="legal_hold.placed").count() == 1
    assert _api(c, "delete", f"/api/retention/holds/{cast.peggy.id}").json()["released"] == 1
    assert AuditEvent.objects.filter(action="legal_hold.released").count() == 1


ALLOWED = {"care_manager", "other_provider_manager", "other_council_manager"}


def test_retention_access_across_providers_and_councils_is_one_404(cast):
    bodies = set()
    for role, p in cast.everyone().items():
        if p.user_id is None:
            continue
        c = client(p)
        calls = {
            "page": lambda c=c: c.get("/retention/"),
            "policy_page": lambda c=c: c.post("/retention/policy", {"message_days": "365"}),
            "policy_api": lambda c=c: _api(
                c, "put", "/api/retention/policy", {"message_days": 365}
            ),
            "hold_page": lambda c=c: c.post(
                f"/retention/holds/{cast.peggy.id}/place", {"reason": "x"}
            ),
            "hold_api": lambda c=c: _api(
                c, "post", f"/api/retention/holds/{cast.peggy.id}", {"reason": "enquiry"}
            ),
            "release_api": lambda c=c: _api(c, "delete", f"/api/retention/holds/{cast.peggy.id}"),
        }
        for name, call in calls.items():
            n = AuditEvent.objects.count()
            r = call()
            hold_on_peggy = name.startswith(("hold", "release"))
            ok = role == "care_manager" if hold_on_peggy else role in ALLOWED
            if ok:
                assert r.status_code in (200, 201, 302), (name, role)
                continue
            assert r.status_code == 404, (name, role, r.status_code)
            assert AuditEvent.objects.count() == n
            if "api" in name:
                bodies.add(r.content)
    assert len(bodies) == 1
    # another provider's manager set only their own provider's policy
    assert set(RetentionPolicy.objects.values_list("provider_id", flat=True)) == {
        cast.provider.id,
        cast.other_provider.id,
        cast.far_provider.id,
    }
