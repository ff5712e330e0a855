"""The bot runner over a real database: visits, cards, observations, flags, replay, restart."""

from __future__ import annotations

import datetime as dt

import pytest

from bots.models import BotQuestion, BotSession, Observation, Visit
from bots.runner import BotConsumer, BotTicker, make_workers
from cocare_chat import clock
from rooms.models import Membership, Message, Role
from rooms.network import do_revoke_family_basis
from tests.bots.helpers import FAR, HOME, bot_entries, open_card, run, say, tap

pytestmark = pytest.mark.django_db


def flags(room, concern=None):
    out = [m for m in bot_entries(room, "signal") if m.payload["signal"] == "flag"]
    return [m for m in out if concern is None or m.payload["data"]["concern"] == concern]


def visit_and_checkout(cast, clk, minutes=36):
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    clk.advance(dt.timedelta(minutes=minutes))
    say(cast.anna, cast.team, "check out", location=HOME)
    run()


def test_check_in_records_the_visit_key_card_and_family_arrival(cast, frozen_clock):
    msg = say(cast.anna, cast.team, "Checking in", location=HOME)
    run()
    v = Visit.objects.get()
    assert v.checkin_message_id == msg.id
    assert v.checkin_location == "in_range"
    assert v.checkin_accuracy_m == 15.0
    assert v.checkin_distance_m < 20
    [card] = bot_entries(cast.team, "card")
    assert card.payload["card_type"] == "key_info"
    assert card.payload["data"]["access_notes"] == "Key safe code 4411"
    assert [m.body for m in bot_entries(cast.family)] == ["Anna arrived 09:00"]
    assert flags(cast.team) == []


def test_a_bot_joins_the_rooms_it_serves_lazily(cast, frozen_clock):
    Membership.objects.filter(person=cast.bot).delete()
    say(cast.anna, cast.team, "check in", location=HOME)
    run()
    bots = Person_bot_ids(cast)
    assert (
        Membership.objects.filter(room=cast.team, person_id__in=bots, removed_at=None).count() == 1
    )


def Person_bot_ids(cast):  # noqa: N802
    return set(Message.objects.filter(sender__role=Role.BOT).values_list("sender_id", flat=True))


def test_full_visit_three_answers_become_observations(cast, frozen_clock):
    visit_and_checkout(cast, frozen_clock)
    v = Visit.objects.get()
    assert v.duration_minutes == 36
    assert v.checked_out_at is not None
    assert [m.body for m in bot_entries(cast.family, "system")] == [
        "Anna arrived 09:00",
        "Anna left 09:36",
    ]
    # card 1 by number reply, card 2 by tap, card 3 by number
    say(cast.anna, cast.team, "1")
    run()
    c2 = open_card(cast.team)
    assert c2.payload["card_id"].endswith("q2")
    tap(cast.anna, cast.team, c2.payload["card_id"], 2)
    run()
    say(cast.anna, cast.team, "1")
    run()
    obs = list(Observation.objects.order_by("at", "id"))
    assert len(obs) == 3
    assert obs[0].question_key == "different_from_usual"
    assert obs[0].score == 0
    assert all(o.visit_id == v.id and o.answered_by_id == cast.anna.id for o in obs)
    assert len({o.domain for o in obs[1:]}) == 2
    assert "that's all" in bot_entries(cast.team, "system")[-1].body
    assert BotSession.objects.get(kind="visit").closed
    # a fourth number is just chat now
    say(cast.anna, cast.team, "2")
    run()
    assert Observation.objects.count() == 3


def test_out_of_range_is_flagged_and_the_reason_is_recorded(cast, frozen_clock):
    say(cast.anna, cast.team, "check in", location=FAR)
    run()
    v = Visit.objects.get()
    assert v.checkin_location == "out_of_range"
    assert v.checkin_distance_m > 1000
    [f] = flags(cast.team, "location_exception")
    assert f.payload["data"]["source"] == "bot.location"
    say(cast.anna, cast.team, "GPS off on my phone")
    run()
    assert Visit.objects.get().exception_reason == "GPS off on my phone"
    assert len(flags(cast.team)) == 1


def test_exempt_home_is_not_checked_nor_flagged(cast, frozen_clock):
    cast.peggy.location_exempt = True
    cast.peggy.save()
    say(cast.anna, cast.team, "check in")
    run()
    assert Visit.objects.get().checkin_location == "exempt"
    assert Visit.objects.get().checkin_lat is None
    assert flags(cast.team) == []


def test_no_family_notices_once_the_basis_is_revoked(cast, frozen_clock):
    do_revoke_family_basis(cast.peggy, cast.debbie, by=cast.carol)
    visit_and_checkout(cast, frozen_clock)
    assert [
        m for m in bot_entries(cast.family) if m.payload.get("event", "").startswith("visit.")
    ] == []


def test_only_the_second_visit_gets_no_key_card(cast, frozen_clock):
    visit_and_checkout(cast, frozen_clock)
    frozen_clock.advance(dt.timedelta(hours=5))
    say(cast.anna, cast.team, "check in", location=HOME)
    run()
    keys = [m for m in bot_entries(cast.team, "card") if m.payload["card_type"] == "key_info"]
    assert len(keys) == 1
    assert Visit.objects.count() == 2
    assert BotSession.objects.filter(kind="visit", closed=False).count() == 1


def test_replay_from_a_reset_cursor_posts_nothing_twice(cast, frozen_clock):
    visit_and_checkout(cast, frozen_clock)
    say(cast.anna, cast.team, "3")  # "very different": a flag
    run()
    say(cast.anna, cast.team, "1")
    run()
    before = list(Message.objects.order_by("id").values_list("id", "client_id"))
    state = (Observation.objects.count(), Visit.objects.count(), BotQuestion.objects.count())
    BotConsumer().reset()
    run()
    BotConsumer().reset()
    run(make_workers())
    assert list(Message.objects.order_by("id").values_list("id", "client_id")) == before
    assert (
        Observation.objects.count(),
        Visit.objects.count(),
        BotQuestion.objects.count(),
    ) == state
    assert len(flags(cast.team, "wellbeing_change")) == 1


def test_runner_restarted_between_two_answers_continues_without_loss_or_duplicates(
    cast, frozen_clock
):
    first = make_workers()
    say(cast.anna, cast.team, "check in", location=HOME)
    run(first)
    say(cast.anna, cast.team, "check out", location=HOME)
    run(first)
    say(cast.anna, cast.team, "1")
    run(first)
    del first  # the runner stops; a new process starts with nothing in memory
    second = make_workers()
    say(cast.anna, cast.team, "1")
    run(second)
    say(cast.anna, cast.team, "1")
    run(second)
    cards = [
        m.payload["card_id"]
        for m in bot_entries(cast.team, "card")
        if m.payload["card_type"] != "key_info"
    ]
    assert len(cards) == len(set(cards)) == 3
    assert Observation.objects.count() == 3
    ids = [
        c for c in Message.objects.filter(sender__role=Role.BOT).values_list("client_id", flat=True)
    ]
    assert len(ids) == len(set(ids))


def test_an_unanswered_question_expires_quietly(cast, frozen_clock):
    visit_and_checkout(cast, frozen_clock)
    posted = Message.objects.count()
    ticker = BotTicker()
    frozen_clock.advance(dt.timedelta(minutes=119))
    assert ticker.run_once(clock.now()) == 0
    frozen_clock.advance(dt.timedelta(minutes=1))
    assert ticker.run_once(clock.now()) == 1
    assert Message.objects.count() == posted  # quietly: nothing posted
    assert BotQuestion.objects.get(session__kind="visit").expired_at is not None
    assert BotSession.objects.get(kind="visit").closed
    say(cast.anna, cast.team, "1")
    run()
    assert Observation.objects.count() == 0
    assert BotTicker().run_once(clock.now()) == 0


def test_an_answer_in_the_log_before_expiry_wins_over_the_timer(cast, frozen_clock):
    visit_and_checkout(cast, frozen_clock)
    frozen_clock.advance(dt.timedelta(minutes=119))
    say(cast.anna, cast.team, "1")  # not yet read by the consumer
    frozen_clock.advance(dt.timedelta(minutes=5))
    assert BotTicker().run_once(clock.now()) == 0
    run()
    assert Observation.objects.count() == 1


def test_a_number_typed_before_a_card_was_posted_does_not_answer_it(cast, frozen_clock):
    say(cast.anna, cast.team, "check in", location=HOME)
    say(cast.anna, cast.team, "check out", location=HOME)
    say(cast.anna, cast.team, "2")  # typed before the runner posted any card
    run()
    assert Observation.objects.count() == 0
    assert open_card(cast.team).payload["card_id"].endswith("q1")


def test_check_out_without_a_visit_gets_a_hint_once(cast, frozen_clock):
    say(cast.anna, cast.team, "check out")
    run()
    BotConsumer().reset()
    run()
    hints = bot_entries(cast.team, "system")
    assert len(hints) == 1
    assert "check in first" in hints[0].body


def test_family_voice_is_asked_at_most_weekly_and_answered_by_family(cast, frozen_clock):
    visit_and_checkout(cast, frozen_clock)
    fam_cards = bot_entries(cast.family, "card")
    assert len(fam_cards) == 1
    assert fam_cards[0].payload["card_type"] == "family_voice"
    say(cast.debbie, cast.family, "2")
    run()
    o = Observation.objects.get(question_key="family_care_experience")
    assert o.answered_by_id == cast.debbie.id
    assert o.domain == "care_experience"
    assert o.visit_id is None
    frozen_clock.advance(dt.timedelta(days=3))
    visit_and_checkout(cast, frozen_clock)
    assert len(bot_entries(cast.family, "card")) == 1
    frozen_clock.advance(dt.timedelta(days=5))
    visit_and_checkout(cast, frozen_clock)
    assert len(bot_entries(cast.family, "card")) == 2


def test_travel_time_since_the_previous_visit_is_recorded(cast, frozen_clock):
    visit_and_checkout(cast, frozen_clock, minutes=30)  # out at 09:30
    frozen_clock.advance(dt.timedelta(minutes=25))
    visit_and_checkout(cast, frozen_clock, minutes=20)
    v1, v2 = Visit.objects.order_by("id")
    assert v1.travel_minutes is None
    assert v2.travel_minutes == 25
