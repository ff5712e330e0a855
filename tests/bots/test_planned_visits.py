"""Planned visits: missed-visit flags on time and once, CSV import, the manager API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from bots.models import BotFlag, PlannedVisit, Visit
from bots.runner import BotTicker
from bots.schedule import (
    CsvImportError,
    PlannedVisitIn,
    do_create_planned_visit,
    import_planned_visits,
)
from cocare_chat import clock
from rooms.models import Message
from tests.bots.helpers import HOME, run, say
from tests.support.cast import T0

pytestmark = pytest.mark.django_db


def plan(cast, start=T0, minutes=30, worker=None):
    return do_create_planned_visit(
        cast.peggy,
        PlannedVisitIn(
            worker_id=(worker or cast.anna).id,
            window_start=start,
            window_end=start + dt.timedelta(minutes=minutes),
        ),
        by=cast.carol,
        now=T0,
    )


def missed_flags(cast):
    return [
        m
        for m in Message.objects.filter(room=cast.team, kind="signal")
        if m.payload["data"]["concern"] == "missed_visit"
    ]


def test_missed_visit_is_flagged_once_on_time_across_a_restart(cast, frozen_clock):
    pv = plan(cast)  # 09:00-09:30, grace 30 min: due 10:00
    assert pv.missed_check_at == T0 + dt.timedelta(minutes=60)
    frozen_clock.advance(dt.timedelta(minutes=59, seconds=59))
    assert BotTicker().run_once(clock.now()) == 0
    assert missed_flags(cast) == []
    frozen_clock.advance(dt.timedelta(seconds=1))
    assert BotTicker().run_once(clock.now()) == 1
    [flag] = missed_flags(cast)
    data = flag.payload["data"]
    assert (data["source"], data["ref"]) == ("bot.missed_visit", f"planned:{pv.id}:missed")
    # a restarted ticker (new instance), later ticks and a full drain: still one flag
    frozen_clock.advance(dt.timedelta(minutes=5))
    assert BotTicker().run_once(clock.now()) == 0
    run()
    assert len(missed_flags(cast)) == 1
    assert BotFlag.objects.filter(planned_visit=pv, kind="missed_visit").count() == 1


def test_a_visit_checked_in_within_the_window_is_not_missed(cast, frozen_clock):
    pv = plan(cast)
    frozen_clock.advance(dt.timedelta(minutes=10))
    say(cast.anna, cast.team, "check in", location=HOME)
    run()
    assert Visit.objects.get().planned_visit_id == pv.id
    frozen_clock.advance(dt.timedelta(hours=2))
    run()
    assert missed_flags(cast) == []
    assert not Visit.objects.get().late


def test_late_check_in_is_flagged_late_and_matched(cast, frozen_clock):
    pv = plan(cast)
    frozen_clock.advance(dt.timedelta(minutes=45))  # after window end, before missed check
    say(cast.anna, cast.team, "check in", location=HOME)
    run()
    v = Visit.objects.get()
    assert v.planned_visit_id == pv.id
    assert v.late
    late = [
        m
        for m in Message.objects.filter(room=cast.team, kind="signal")
        if m.payload["data"]["concern"] == "late_visit"
    ]
    assert len(late) == 1
    frozen_clock.advance(dt.timedelta(hours=1))
    run()
    assert missed_flags(cast) == []


def test_cancelled_visits_are_never_missed(cast, frozen_clock):
    pv = plan(cast)
    PlannedVisit.objects.filter(pk=pv.pk).update(status="cancelled")
    frozen_clock.advance(dt.timedelta(hours=3))
    assert BotTicker().run_once(clock.now()) == 0


CSV_OK = """service_user_id,worker_id,date,start,end,expected_minutes
{su},{w},2026-03-03,08:00,08:30,30
{su},{w},2026-03-03,12:00,12:45,
"""


def test_csv_import_is_all_or_nothing_with_row_errors(cast):
    good = CSV_OK.format(su=cast.peggy.id, w=cast.anna.id)
    bad = good + (
        f"{cast.peggy.id},{cast.nadia.id},2026-03-03,18:00,18:30,30\n"
        f"{cast.peggy.id},{cast.anna.id},2026-03-32,18:00,18:30,30\n"
        f"{cast.peggy.id},{cast.anna.id},2026-03-04,18:30,18:00,30\n"
        f"999,{cast.anna.id},2026-03-04,18:00,18:30,30\n"
    )
    with pytest.raises(CsvImportError) as exc:
        import_planned_visits(bad, by=cast.carol)
    errs = exc.value.errors
    assert [e.split(":")[0] for e in errs] == ["line 4", "line 5", "line 6", "line 7"]
    assert "not a care worker" in errs[0]
    assert "date" in errs[1]
    assert "after" in errs[2]
    assert "no such person" in errs[3]
    assert PlannedVisit.objects.count() == 0
    res = import_planned_visits(good, by=cast.carol)
    assert (res.created, res.skipped_existing) == (2, 0)
    again = import_planned_visits(good, by=cast.carol)
    assert (again.created, again.skipped_existing) == (0, 2)
    lunch = PlannedVisit.objects.get(expected_minutes=45)
    assert lunch.window_start.isoformat() == "2026-03-03T12:00:00+00:00"  # GMT in March


def test_csv_import_refuses_another_providers_people_and_bad_headers(cast):
    with pytest.raises(CsvImportError):
        import_planned_visits(
            CSV_OK.format(su=cast.peggy.id, w=cast.anna.id), by=cast.other_manager
        )
    with pytest.raises(CsvImportError) as exc:
        import_planned_visits("who,when\n1,2\n")
    assert "header" in exc.value.errors[0]


def test_import_command_reports_rows_and_writes_nothing_on_error(cast, tmp_path):
    f = tmp_path / "visits.csv"
    f.write_text(CSV_OK.format(su=cast.peggy.id, w=cast.anna.id) + "x,y,z,1,2,3\n")
    with pytest.raises(CommandError) as exc:
        call_command("import_planned_visits", str(f), "--as-user", "carol")
    assert "line 4" in str(exc.value)
    assert PlannedVisit.objects.count() == 0
    f.write_text(CSV_OK.format(su=cast.peggy.id, w=cast.anna.id))
    call_command("import_planned_visits", str(f), "--as-user", "carol")
    assert PlannedVisit.objects.count() == 2


def client_for(person):
    c = Client()
    c.force_login(person.user)
    return c


def test_managers_plan_edit_and_cancel_visits_through_the_api(cast):
    carol = client_for(cast.carol)
    url = f"/api/visits/service-users/{cast.peggy.id}/planned"
    body = {
        "worker_id": cast.anna.id,
        "window_start": "2026-03-03T09:00:00Z",
        "window_end": "2026-03-03T09:30:00Z",
    }
    r = carol.post(url, json.dumps(body), content_type="application/json")
    assert r.status_code == 201, r.content
    pv = r.json()
    assert pv["expected_minutes"] == 30
    # undeclared fields and bad windows are refused with a reason, nothing written
    r = carol.post(url, json.dumps(body | {"surprise": 1}), content_type="application/json")
    assert r.status_code == 422
    r = carol.post(
        url,
        json.dumps(body | {"window_end": "2026-03-03T08:00:00Z"}),
        content_type="application/json",
    )
    assert r.status_code == 422
    assert "after" in r.json()["message"]
    assert PlannedVisit.objects.count() == 1
    # edit
    r = carol.put(
        f"/api/visits/planned/{pv['id']}",
        json.dumps(body | {"window_end": "2026-03-03T10:00:00Z"}),
        content_type="application/json",
    )
    assert r.status_code == 200
    assert r.json()["expected_minutes"] == 60
    # a care worker reads but cannot plan; another provider's manager cannot see it
    anna = client_for(cast.anna)
    assert anna.get(url).status_code == 200
    assert anna.post(url, json.dumps(body), content_type="application/json").status_code == 404
    oscar = client_for(cast.other_manager)
    assert (
        oscar.put(
            f"/api/visits/planned/{pv['id']}", json.dumps(body), content_type="application/json"
        ).status_code
        == 404
    )
    assert oscar.get(url).status_code == 404
    r = carol.delete(f"/api/visits/planned/{pv['id']}")
    assert r.json()["status"] == "cancelled"


def test_csv_import_api_lists_bad_rows(cast):
    carol = client_for(cast.carol)
    text = CSV_OK.format(su=cast.peggy.id, w=cast.anna.id) + "1,2,3\n"
    r = carol.post(
        "/api/visits/planned-import", json.dumps({"csv": text}), content_type="application/json"
    )
    assert r.status_code == 422
    assert r.json()["rows"][0].startswith("line 4")
    r = carol.post(
        "/api/visits/planned-import",
        json.dumps({"csv": CSV_OK.format(su=cast.peggy.id, w=cast.anna.id)}),
        content_type="application/json",
    )
    assert r.status_code == 201
    assert r.json()["created"] == 2


def test_goals_are_added_by_managers_and_asked_about(cast, frozen_clock):
    carol = client_for(cast.carol)
    r = carol.post(
        f"/api/visits/service-users/{cast.peggy.id}/goals",
        json.dumps({"text": "Walk to the shop once a week"}),
        content_type="application/json",
    )
    assert r.status_code == 201
    r = client_for(cast.anna).post(
        f"/api/visits/service-users/{cast.peggy.id}/goals",
        json.dumps({"text": "x" * 10}),
        content_type="application/json",
    )
    assert r.status_code == 404
