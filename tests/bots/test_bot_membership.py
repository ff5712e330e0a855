"""A manager's removal of the visit bot sticks: the bot never re-adds itself.

It joins a room it serves by itself only the first time. Once removed, its replies for
that room are skipped; its safeguarding flags still reach the escalation engine, posted
by the system sender, so removing the bot never silences a missed-visit alert.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bots.models import Visit
from bots.runner import BotTicker
from bots.schedule import PlannedVisitIn, do_create_planned_visit
from cocare_chat import clock
from escalation.models import Alert
from rooms.models import Membership, Message
from rooms.network import system_person
from tests.bots.helpers import HOME, bot_entries, run, say
from tests.escalation.helpers import drain
from tests.security.helpers import client_for
from tests.support.cast import T0

pytestmark = pytest.mark.django_db


def _remove_bot_from_team(cast) -> None:
    """As Carol does it: through the API."""
    r = client_for(cast.carol).delete(f"/api/rooms/{cast.team.id}/members/{cast.bot.id}")
    assert r.status_code == 204


def test_a_removed_bot_stays_out_and_posts_nothing_there(cast, frozen_clock):
    _remove_bot_from_team(cast)
    posted_before = {m.id for m in bot_entries(cast.team)}
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    frozen_clock.advance(dt.timedelta(minutes=30))
    say(cast.anna, cast.team, "check out", location=HOME)
    run()
    m = Membership.objects.get(room=cast.team, person=cast.bot)
    assert m.removed_at is not None  # not re-added
    assert {m.id for m in bot_entries(cast.team)} == posted_before  # no key card, no cards
    # The visit is still recorded (dashboards, missed-visit matching) and the family room,
    # where the bot still is, hears of it.
    assert Visit.objects.get().checked_out_at is not None
    assert [x.body for x in bot_entries(cast.family, "system")][:1] == ["Anna arrived 09:00"]


def test_a_removed_bot_never_silences_a_missed_visit_alert(cast, frozen_clock):
    _remove_bot_from_team(cast)
    do_create_planned_visit(
        cast.peggy,
        PlannedVisitIn(
            worker_id=cast.anna.id, window_start=T0, window_end=T0 + dt.timedelta(minutes=30)
        ),
        by=cast.carol,
        now=T0,
    )
    frozen_clock.advance(dt.timedelta(hours=2))
    assert BotTicker().run_once(clock.now()) == 1
    [flag] = Message.objects.filter(room=cast.team, kind="signal")
    assert flag.sender_id == system_person().id  # the system sender, not the bot
    assert Membership.objects.get(room=cast.team, person=cast.bot).removed_at is not None
    drain()
    assert Alert.objects.get().concern == "missed_visit"


def test_a_manager_can_add_the_bot_back_and_it_serves_again(cast, frozen_clock):
    _remove_bot_from_team(cast)
    r = client_for(cast.carol).post(
        f"/api/rooms/{cast.team.id}/members",
        {"person_id": cast.bot.id},
        content_type="application/json",
    )
    assert r.status_code == 201
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    assert [c.payload["card_type"] for c in bot_entries(cast.team, "card")] == ["key_info"]
