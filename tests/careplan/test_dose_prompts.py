"""Doses falling due later in a visit are prompted at their time, once: a generic notice
by the visit bot in the team room (a time and a count, never a medicine name), driven by
a timer column — skipped when the visit ended first or the dose is already recorded."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.core.management import call_command
from django.db import connection

from bots.models import Visit
from bots.runner import make_workers as bot_workers
from careplan.consumer import VisitRecordConsumer
from careplan.consumer import make_workers as careplan_workers
from careplan.models import DosePrompt
from careplan.prompts import EVENT, PromptTicker
from cocare_chat import clock
from rooms.models import Message, Role
from rooms.workers import drain, load_workers
from tests.bots.helpers import HOME, say
from tests.bots.helpers import run as run_workers
from tests.careplan.helpers import MADOPAR, add_medicine, cid, client_for, post, save_plan
from tests.support.cast import T0, build_cast

API = "/api/careplan"
SENNA = {"name": "Senna 7.5 mg", "dose": "2 tablets", "route": "oral", "times": ["09:30"]}


def run():
    return run_workers([*bot_workers(), *careplan_workers()])


def prompts(room):
    return list(
        Message.objects.filter(room=room, sender__role=Role.BOT, payload__event=EVENT).order_by(
            "seq"
        )
    )


def start(cast) -> Visit:
    save_plan(cast.peggy, cast.carol)
    for spec in (MADOPAR, SENNA):
        add_medicine(cast.peggy, cast.nadia, spec, now=T0 - dt.timedelta(days=3))
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    return Visit.objects.get(worker=cast.anna, checked_out_at__isnull=True)


@pytest.mark.django_db
def test_a_dose_due_later_in_the_visit_is_prompted_once_at_its_time(cast, frozen_clock):
    v = start(cast)  # 09:00: the 09:00 dose is on the card, not prompted
    [p] = DosePrompt.objects.filter(visit=v)
    assert p.due_at == T0 + dt.timedelta(minutes=30) and p.state == "pending"

    frozen_clock.advance(dt.timedelta(minutes=29))
    run()
    assert prompts(cast.team) == []
    frozen_clock.advance(dt.timedelta(minutes=1))
    run()
    [notice] = prompts(cast.team)
    assert notice.body == "A medicine is due now (09:30) — record it on the visit card."
    assert notice.payload["data"] == {"visit": v.id, "time": "09:30", "doses": 1}
    assert "Senna" not in notice.body + json.dumps(notice.payload)
    assert prompts(cast.family) == []
    # The card's record now lists the 09:30 dose to record.
    rec = client_for(cast.anna).get(f"{API}/visits/{v.id}/record").json()
    assert "09:30" in [d["time"] for d in rec["doses_due"]]

    # Later runs, a replay of the consumer and another ticker post nothing more.
    frozen_clock.advance(dt.timedelta(minutes=5))
    VisitRecordConsumer().reset()
    run()
    PromptTicker().run_once(frozen_clock.now())
    assert len(prompts(cast.team)) == 1
    assert DosePrompt.objects.filter(visit=v).count() == 1
    assert DosePrompt.objects.get(visit=v).state == "posted"


@pytest.mark.django_db
def test_no_prompt_when_the_dose_is_already_recorded_or_the_visit_has_ended(cast, frozen_clock):
    v = start(cast)
    senna = v.service_user.medicines.get(name__startswith="Senna")
    frozen_clock.advance(dt.timedelta(minutes=10))
    r = post(
        client_for(cast.anna),
        f"{API}/visits/{v.id}/doses",
        {
            "client_id": cid(),
            "medicine": senna.id,
            "scheduled_for": (T0 + dt.timedelta(minutes=30)).isoformat(),
            "outcome": "given",
        },
    )
    assert r.status_code == 201, r.content  # given early, within its tolerance
    frozen_clock.advance(dt.timedelta(minutes=30))
    run()
    assert prompts(cast.team) == []
    assert DosePrompt.objects.get(visit=v).state == "skipped"
    say(cast.anna, cast.team, "check out", location=HOME)
    run()

    # Next day: checked out at 09:20, before the 09:30 dose.
    frozen_clock.advance(dt.timedelta(days=1) - dt.timedelta(minutes=40))
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    v2 = Visit.objects.get(worker=cast.anna, checked_out_at__isnull=True)
    frozen_clock.advance(dt.timedelta(minutes=20))
    say(cast.anna, cast.team, "check out", location=HOME)
    run()
    frozen_clock.advance(dt.timedelta(minutes=15))
    run()
    assert prompts(cast.team) == []
    assert DosePrompt.objects.get(visit=v2).state == "skipped"


@pytest.mark.django_db
def test_a_prompt_left_pending_past_its_time_makes_health_fail(cast, frozen_clock, capsys):
    v = start(cast)
    frozen_clock.advance(dt.timedelta(minutes=40))  # due at 09:30; nobody ran the ticker
    with pytest.raises(SystemExit):
        call_command("health", "--json")
    findings = json.loads(capsys.readouterr().out)["findings"]
    [stuck] = [f for f in findings if f["subject"] == "careplan.prompts dose prompts"]
    prompt = DosePrompt.objects.get(visit=v)
    assert stuck["check"] == "timer.overdue" and stuck["detail"].endswith(f": {prompt.id}")
    drain(load_workers())  # every worker, the prompt ticker among them, catches up
    call_command("health", "--json")  # healthy again: no SystemExit
    assert json.loads(capsys.readouterr().out)["ok"] is True


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_tickers_racing_post_each_prompt_once():
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (run it in the services phase)")
    clock.freeze(T0)
    cast = build_cast(T0)
    v = start(cast)
    clock.advance(dt.timedelta(minutes=31))
    now = clock.now()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def tick():
        try:
            barrier.wait(10)
            PromptTicker().run_once(now)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(prompts(cast.team)) == 1
    assert DosePrompt.objects.get(visit=v).state == "posted"
