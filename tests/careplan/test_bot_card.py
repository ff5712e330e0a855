"""The bot posts the visit's tasks as one card after check-in; a tap ticks the task."""

from __future__ import annotations

import datetime as dt

import pytest

from bots.runner import BotConsumer
from bots.runner import make_workers as bot_workers
from careplan.consumer import VisitRecordConsumer
from careplan.models import TaskRecord
from tests.bots.helpers import HOME, bot_entries, say, tap
from tests.bots.helpers import run as run_workers
from tests.careplan.helpers import MADOPAR, add_medicine, save_plan
from tests.support.cast import T0

pytestmark = pytest.mark.django_db


def run():
    """The visit bot and the visit record's consumer, as the worker processes run them."""
    return run_workers([*bot_workers(), VisitRecordConsumer()])


def tasks_cards(room):
    return [m for m in bot_entries(room, "card") if m.payload["card_type"] == "visit_tasks"]


def test_check_in_posts_one_tasks_card_and_a_tap_by_the_worker_ticks_the_task(cast, frozen_clock):
    save_plan(cast.peggy, cast.carol)
    add_medicine(cast.peggy, cast.nadia, MADOPAR, now=T0 - dt.timedelta(days=1))
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    [card] = tasks_cards(cast.team)
    p = card.payload
    assert p["title"] == "Morning visit: 3 tasks — tap each one when done"
    assert [o["label"] for o in p["options"]] == [
        "★ Wash and dress; check heels for redness",
        "Breakfast: porridge, tea one sugar",
        "★ Empty catheter bag",
    ]
    assert "beneldopa" not in str(p)  # cards reach Matrix: never a medicine
    assert tasks_cards(cast.family) == []

    tap(cast.nadia, cast.team, p["card_id"], 0)  # not the visit's worker: nothing
    tap(cast.anna, cast.team, p["card_id"], 1)
    tap(cast.anna, cast.team, p["card_id"], 7)  # no such task: nothing
    run()
    [rec] = TaskRecord.objects.all()
    assert (rec.task.key, rec.done, rec.recorded_by_id) == ("breakfast", True, cast.anna.id)

    BotConsumer().reset()
    VisitRecordConsumer().reset()
    run()
    assert len(tasks_cards(cast.team)) == 1
    assert TaskRecord.objects.count() == 1


def test_no_card_without_tasks_for_the_visit(cast, frozen_clock):
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    assert tasks_cards(cast.team) == []


def test_the_card_is_the_visit_bots_and_none_for_a_visit_already_over(cast, frozen_clock):
    save_plan(cast.peggy, cast.carol)
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    [card] = tasks_cards(cast.team)
    assert card.sender.role == "bot" and card.client_id.endswith(":tasks:0")
    say(cast.anna, cast.team, "check out", location=HOME)
    run()
    # The next visit checks in and out before the careplan worker gets to it (it was
    # down): on catching up it posts no card for a visit that has ended.
    frozen_clock.advance(dt.timedelta(hours=4))
    say(cast.anna, cast.team, "Check in", location=HOME)
    frozen_clock.advance(dt.timedelta(minutes=20))
    say(cast.anna, cast.team, "check out", location=HOME)
    run_workers(bot_workers())
    run()
    assert len(tasks_cards(cast.team)) == 1
