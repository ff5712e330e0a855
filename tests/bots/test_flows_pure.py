"""Pure flow tests: no database, time passed in."""

from __future__ import annotations

import datetime as dt

import pytest

from bots.flows import checkin as flow
from bots.flows import questions as q
from bots.flows.questions import card_spec
from bots.geo import Home, Position, check_location, haversine_m
from bots.parse import intent
from bots.questionbank import load_bank
from bots.selection import Pick

T = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HOME = Home(lat=53.4808, lon=-2.2426, radius_m=150)
AT_HOME = Position(lat=53.4809, lon=-2.2427, accuracy=20)
FAR = Position(lat=53.4900, lon=-2.2426, accuracy=30)  # ~1 km north
SID = 7


def checkin(**kw) -> flow.CheckIn:
    base = dict(
        at=T,
        message_id=100,
        position=AT_HOME,
        home=HOME,
        worker_name="Anna Kowalski",
        service_user_name="Peggy",
        key_info=flow.KeyInfo(first_visit=False),
        family_notices=True,
    )
    base.update(kw)
    return flow.CheckIn(**base)


def specs(n: int = 3) -> list[q.CardSpec]:
    bank = load_bank()
    keys = ["different_from_usual", "mobility_falls", "visit_experience", "dressing_washing"]
    return [
        card_spec(
            bank.get(k), Pick(ask_key=k, question_key=k, domain=bank.get(k).domain), "Peggy", None
        )
        for k in keys[:n]
    ]


def checkout(state, **kw):
    base = dict(
        at=T + dt.timedelta(minutes=36),
        message_id=200,
        position=AT_HOME,
        home=HOME,
        cards=specs(),
        travel_minutes=12,
        family_notices=True,
        question_ttl_minutes=60,
    )
    base.update(kw)
    return flow.step(state, flow.CheckOut(**base), T + dt.timedelta(minutes=36))


def bodies(out, room=None):
    return [r.body for r in out.replies if room is None or r.room == room]


# ---- geo -----------------------------------------------------------------------------


def test_haversine_is_about_right_for_a_known_distance():
    # one degree of latitude is ~111.2 km
    assert haversine_m(53.0, -2.0, 54.0, -2.0) == pytest.approx(111_195, rel=1e-3)


def test_accuracy_gives_the_benefit_of_the_doubt_and_no_more():
    home = Home(lat=53.0, lon=-2.0, radius_m=100)
    north_300m = 53.0 + 300 / 111_195
    assert (
        check_location(Position(lat=north_300m, lon=-2.0, accuracy=250), home).status == "in_range"
    )  # 300 - 250 <= 100
    assert (
        check_location(Position(lat=north_300m, lon=-2.0, accuracy=150), home).status
        == "out_of_range"
    )  # 300 - 150 > 100


def test_exempt_homes_are_not_checked_and_keep_no_position():
    c = check_location(FAR, HOME.model_copy(update={"exempt": True}))
    assert c.status == "exempt"
    assert c.position is None
    assert not c.is_exception


# ---- intent ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "check in",
        "Checking in",
        "check-in",
        "CHECKIN!",
        "checked in",
        "I'm checking in now",
        "📍 Check in",
    ],
)
def test_typed_check_in_variants(body):
    assert intent(body, None)[0] == "check_in"


@pytest.mark.parametrize("body", ["check in with the GP about her tablets", "checking", "in"])
def test_sentences_that_merely_contain_the_words_are_not_commands(body):
    assert intent(body, None)[0] == "text"


def test_location_button_and_numbers():
    what, pos, _ = intent("📍", {"location": {"lat": 53.4, "lon": -2.2, "accuracy": 12}})
    assert what == "check_in"
    assert pos.accuracy == 12
    what, pos, _ = intent("Check out", {"location": {"lat": 53.4, "lon": -2.2, "accuracy": 12}})
    assert what == "check_out"
    assert pos is not None
    assert intent(" 2 ", None) == ("number", None, 2)
    assert intent("2 sugars", None)[0] == "text"
    # a malformed position is "no location", not an error
    assert intent("check in", {"location": {"lat": 999, "lon": 0, "accuracy": 1}})[1] is None


# ---- check-in / check-out ----------------------------------------------------------------


def test_check_in_in_range_notes_arrival_for_family_and_asks_nothing():
    out = flow.start_visit(checkin(), session_id=SID, worker_id=3)
    assert out.state.phase == "visiting"
    assert out.state.checkin.status == "in_range"
    assert out.flags == []
    assert out.state.awaiting_reason is None
    assert bodies(out, "family") == ["Anna arrived 09:00"]
    assert "checked in 09:00" in bodies(out, "professional")[0]


def test_first_visit_gets_the_key_information_card_others_a_reminder_or_nothing():
    ki = flow.KeyInfo(first_visit=True, preferences="Tea, one sugar", access_notes="Key safe 4411")
    out = flow.start_visit(checkin(key_info=ki), session_id=SID, worker_id=3)
    cards = [r for r in out.replies if r.kind == "card"]
    assert len(cards) == 1
    assert cards[0].room == "professional"
    assert cards[0].payload["card_type"] == "key_info"
    assert cards[0].payload["data"]["access_notes"] == "Key safe 4411"
    changed = flow.KeyInfo(
        first_visit=False,
        changed_since_last=T - dt.timedelta(days=1),
        changed_fields=["access_notes"],
        preferences="Tea, one sugar",
        access_notes="Key safe 9902",
    )
    out = flow.start_visit(checkin(key_info=changed), session_id=SID, worker_id=3)
    [card] = [r for r in out.replies if r.kind == "card"]
    assert card.room == "professional" and "key information changed" in card.payload["title"]
    # Only what changed since the worker's last visit, with its current value.
    assert card.payload["data"] == {"access_notes": "Key safe 9902"}
    out = flow.start_visit(checkin(), session_id=SID, worker_id=3)
    assert not any("key information" in b.lower() for b in bodies(out))
    assert not [r for r in out.replies if r.kind == "card"]


def test_no_family_notice_without_a_family_basis():
    out = flow.start_visit(checkin(family_notices=False), session_id=SID, worker_id=3)
    assert bodies(out, "family") == []


def test_out_of_range_is_recorded_flagged_and_a_reason_is_asked_never_blocked():
    out = flow.start_visit(checkin(position=FAR), session_id=SID, worker_id=3)
    s = out.state
    assert s.phase == "visiting"  # the visit is open: not blocked
    assert s.checkin.status == "out_of_range"
    assert s.checkin.distance_m > 900
    assert s.awaiting_reason == "check_in"
    [flag] = out.flags
    assert (flag.concern, flag.source, flag.message_id) == (
        "location_exception",
        "bot.location",
        100,
    )
    assert any("short reason" in b for b in bodies(out, "professional"))
    # the next text is the reason
    out2 = flow.step(s, flow.Text(at=T, body="Phone GPS was off", message_id=101), T)
    assert out2.state.reason == "Phone GPS was off"
    assert out2.state.awaiting_reason is None
    assert out2.flags == []
    # and after that, ordinary chat does not change anything
    out3 = flow.step(out2.state, flow.Text(at=T, body="Lunch eaten", message_id=102), T)
    assert not out3.changed


def test_no_location_is_an_exception_too_but_an_exempt_home_is_not():
    out = flow.start_visit(checkin(position=None), session_id=SID, worker_id=3)
    assert out.state.checkin.status == "no_location"
    assert len(out.flags) == 1
    exempt = HOME.model_copy(update={"exempt": True})
    out = flow.start_visit(checkin(position=None, home=exempt), session_id=SID, worker_id=3)
    assert out.state.checkin.status == "exempt"
    assert out.flags == []
    assert out.state.awaiting_reason is None


def test_late_check_in_against_the_planned_window_is_flagged():
    planned = flow.PlannedRef(
        id=5,
        window_start=T - dt.timedelta(hours=2),
        window_end=T - dt.timedelta(hours=1, minutes=30),
    )
    out = flow.start_visit(checkin(planned=planned), session_id=SID, worker_id=3)
    assert [f.concern for f in out.flags] == ["late_visit"]
    assert out.state.late
    on_time = planned.model_copy(update={"window_end": T + dt.timedelta(minutes=30)})
    assert flow.start_visit(checkin(planned=on_time), session_id=SID, worker_id=3).flags == []


def test_check_out_records_duration_travel_departure_and_asks_the_first_card():
    s = flow.start_visit(checkin(), session_id=SID, worker_id=3).state
    out = checkout(s)
    st = out.state
    assert (st.phase, st.duration_minutes, st.travel_minutes) == ("asking", 36, 12)
    assert bodies(out, "family") == ["Anna left 09:36"]
    cards = [r for r in out.replies if r.kind == "card"]
    assert len(cards) == 1
    assert cards[0].payload["card_type"] == "screener"
    assert [a.card_id for a in out.asked] == [f"s{SID}q1"]
    # a second "check out" changes nothing but says so
    again = checkout(st)
    assert again.state == st
    assert "already checked out" in bodies(again)[0]


def test_check_in_twice_does_not_open_a_second_visit():
    s = flow.start_visit(checkin(), session_id=SID, worker_id=3).state
    out = flow.step(s, checkin(at=T + dt.timedelta(minutes=5)), T)
    assert out.state == s
    assert "already checked in" in bodies(out)[0]


# ---- questions -----------------------------------------------------------------------------


def answer(state, value, card_id=None, minutes=40):
    at = T + dt.timedelta(minutes=minutes)
    return flow.step(
        state, flow.Answer(at=at, card_id=card_id, value=value, by=3, message_id=300), at
    )


def test_three_cards_one_at_a_time_then_thanks_and_observations():
    s = checkout(flow.start_visit(checkin(), session_id=SID, worker_id=3).state).state
    seen = []
    for n in range(3):
        out = answer(s, 1, card_id=f"s{SID}q{n + 1}")
        seen += out.observations
        s = out.state
    assert s.phase == "done"
    assert s.closed
    assert [o.question_key for o in seen] == [
        "different_from_usual",
        "mobility_falls",
        "visit_experience",
    ]
    assert all(o.score == 0 for o in seen)
    assert "that's all" in bodies(out)[-1]
    # answering again after the end does nothing
    assert not answer(s, 2, card_id=f"s{SID}q3").changed


def test_number_reply_answers_the_open_card_and_out_of_range_numbers_get_a_hint():
    s = checkout(flow.start_visit(checkin(), session_id=SID, worker_id=3).state).state
    out = answer(s, 9)
    assert out.state == s
    assert out.observations == []
    assert "1 to 3" in bodies(out)[0]
    out = answer(s, 3)
    assert out.observations[0].score == 4  # "Very different"
    [flag] = out.flags
    assert (flag.concern, flag.source) == ("wellbeing_change", "bot.screener")


def test_a_stale_card_id_does_not_answer_the_open_card():
    s = checkout(flow.start_visit(checkin(), session_id=SID, worker_id=3).state).state
    assert not answer(s, 1, card_id="s999q1").changed


def test_worse_answer_past_the_threshold_flags_but_the_same_bad_answer_again_does_not():
    bank = load_bank()
    mob = bank.get("mobility_falls")
    pick = Pick(ask_key=mob.key, question_key=mob.key, domain=mob.domain)
    for prev, expect in [(None, True), (0, True), (2, True), (4, False)]:
        spec = card_spec(mob, pick, "Peggy", prev)
        qs = q.start("professional", [spec], 60, SID, T).state
        out = q.answer(
            qs, card_id=None, value=3, by=3, at=T, session_id=SID, message_id=1, now=T, thanks="ok"
        )
        assert bool(out.flags) is expect, prev
        if expect:
            assert out.flags[0].concern == "falls"


def test_expiry_is_quiet_and_drops_the_remaining_questions():
    s = checkout(flow.start_visit(checkin(), session_id=SID, worker_id=3).state).state
    out = flow.step(s, flow.Expire(card_id=f"s{SID}q1"), T + dt.timedelta(hours=2))
    assert out.replies == []
    assert out.flags == []
    assert out.observations == []
    assert out.state.phase == "done"
    assert out.state.questions.pending == []
    # a late answer after expiry does nothing
    assert not answer(out.state, 1, card_id=f"s{SID}q1").changed
    # expiring a card that is not open does nothing
    assert not flow.step(s, flow.Expire(card_id=f"s{SID}q2"), T).changed


def test_a_far_check_out_asks_the_reason_first_and_the_questions_after_it():
    """Issue 15: the reason and question 1 never arrive at the same moment."""
    s = flow.start_visit(checkin(), session_id=SID, worker_id=3).state
    out = checkout(s, position=None, cards=specs(2))
    assert out.state.awaiting_reason == "check_out"
    assert len(out.flags) == 1
    assert [r.kind for r in out.replies if r.room == "professional"] == ["system", "system"]
    assert "short reason" in bodies(out, "professional")[-1]
    assert out.asked == [] and out.state.phase == "asking"
    # A number before the reason answers nothing (no card is open yet).
    assert not answer(out.state, 1).changed
    out = flow.step(out.state, flow.Text(at=T, body="No signal in the flats", message_id=9), T)
    assert out.state.checkout_reason == "No signal in the flats"
    assert out.state.reason == ""  # the check-in was in range: no check-in reason
    assert bodies(out)[0].startswith("Thanks — reason noted")
    assert [r.kind for r in out.replies] == ["system", "card"]
    assert [a.card_id for a in out.asked] == [f"s{SID}q1"]
    s = answer(out.state, 1, card_id=f"s{SID}q1").state
    s = answer(s, 1, card_id=f"s{SID}q2").state
    assert s.phase == "done" and s.closed


def test_both_reasons_are_kept():
    out = flow.start_visit(checkin(position=FAR), session_id=SID, worker_id=3)
    s = flow.step(out.state, flow.Text(at=T, body="Parked round the corner", message_id=5), T).state
    out = checkout(s, position=FAR, cards=[])
    assert out.state.awaiting_reason == "check_out"
    s = flow.step(out.state, flow.Text(at=T, body="Walked to the bus stop", message_id=9), T).state
    assert (s.reason, s.checkout_reason) == ("Parked round the corner", "Walked to the bus stop")
    assert s.closed


def test_a_far_check_out_before_the_check_in_reason_asks_once_for_both():
    s = flow.start_visit(checkin(position=FAR), session_id=SID, worker_id=3).state
    out = checkout(s, position=None, cards=[])
    assert out.state.awaiting_reason == "both"
    assert "check-in and the check-out" in bodies(out, "professional")[-1]
    s = flow.step(out.state, flow.Text(at=T, body="GPS broken all day", message_id=9), T).state
    assert (s.reason, s.checkout_reason) == ("GPS broken all day", "GPS broken all day")
    assert s.closed


def test_visit_notices_name_the_worker_so_buttons_can_follow_the_state():
    out = flow.start_visit(checkin(), session_id=SID, worker_id=3)
    [notice] = [r for r in out.replies if r.payload.get("event") == "visit.checked_in"]
    assert notice.payload["data"]["worker"] == 3
    out = checkout(out.state)
    [notice] = [r for r in out.replies if r.payload.get("event") == "visit.checked_out"]
    assert notice.payload["data"]["worker"] == 3


def test_states_stored_before_checkout_reason_existed_still_load():
    s = flow.start_visit(checkin(position=FAR), session_id=SID, worker_id=3).state
    raw = s.model_dump(mode="json")
    raw.pop("checkout_reason")
    assert flow.VisitState.model_validate(raw).checkout_reason == ""


def test_the_questions_state_never_posts_a_fourth_card():
    qs = q.QuestionsState(room="professional", ttl_minutes=60, pending=specs(4))
    posted = 0
    out = q.ask_next(qs, SID, T)
    while True:
        posted += len(out.asked)
        if out.state.open_card is None:
            break
        out = q.answer(
            out.state,
            card_id=None,
            value=1,
            by=1,
            at=T,
            session_id=SID,
            message_id=1,
            now=T,
            thanks="ok",
        )
    assert posted == 3
