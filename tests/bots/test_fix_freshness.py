"""Issue 15: a check-in/out position is believed only if it was taken within ~10 s of the
tap (bots/geo.py ``fresh_position``), judged on the server — not only by the page.

Pure bounds first; then odd fix times at the write path (refused, nothing written); then
the runner: a stale fix is still a recorded check-in, as a location exception "position
not fresh", and the stale coordinates are not kept as the visit's position."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pydantic import ValidationError

from bots.geo import FIX_MAX_AGE, FIX_MAX_WAIT, Position, fresh_position
from bots.models import Visit
from rooms.errors import Invalid
from rooms.models import Message
from rooms.payloads import validate_payload
from tests.bots.helpers import HOME, bot_entries, run, say
from tests.support.cast import T0

TAP = dt.datetime(2026, 3, 2, 13, 30, 52, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def pos(fixed_at: dt.datetime | None) -> Position:
    return Position(lat=53.48, lon=-2.24, accuracy=12, fixed_at=fixed_at)


@pytest.mark.parametrize(
    ("fixed", "tapped", "received", "fresh"),
    [
        (TAP, TAP, TAP, True),
        (TAP - FIX_MAX_AGE, TAP, TAP, True),  # exactly 10 s before the tap: believed
        (TAP - FIX_MAX_AGE - S / 1000, TAP, TAP, False),  # just older
        (TAP - dt.timedelta(minutes=5), TAP, TAP + dt.timedelta(minutes=5), False),
        (TAP + dt.timedelta(seconds=14), TAP, TAP + dt.timedelta(minutes=30), True),  # after
        (TAP + FIX_MAX_WAIT, TAP, TAP + FIX_MAX_WAIT, True),
        (TAP + FIX_MAX_WAIT + S, TAP, TAP + dt.timedelta(hours=1), False),  # later than asked
        (TAP + dt.timedelta(days=300), TAP, TAP, False),  # far future
        (TAP + dt.timedelta(seconds=5), TAP + dt.timedelta(seconds=5), TAP - FIX_MAX_WAIT, False),
        (None, TAP, TAP, False),  # the button sends both: a missing fix time is not fresh
        (TAP - dt.timedelta(seconds=3), None, TAP, True),  # no tap time: against arrival
        (TAP - dt.timedelta(seconds=30), None, TAP, False),
    ],
)
def test_fix_time_bounds(fixed, tapped, received, fresh):
    out = fresh_position(pos(fixed), tapped, received)
    assert out is not None and out.stale is (not fresh)


def test_a_position_with_no_times_at_all_is_judged_as_before():
    # A typed "check in" from an integration that sends neither time.
    out = fresh_position(pos(None), None, None)
    assert out is not None and not out.stale
    assert fresh_position(None, TAP, TAP) is None


@pytest.mark.parametrize(
    "bad",
    [
        math.nan,
        math.inf,
        1772458252,
        1772458252000.0,  # the Geolocation timestamp as a number: must be ISO text
        True,
        "now",
        "2026-03-02T13:30:52",  # no offset
        "9999-12-31T23:59:59+00:00",
        "0001-01-01T00:00:00+00:00",
        "２０２６-03-02T13:30:52+00:00",
        ["2026-03-02T13:30:52+00:00"],
    ],
    ids=repr,
)
def test_odd_fix_times_are_refused_by_the_payload_model(bad):
    loc = {"lat": 53.48, "lon": -2.24, "accuracy": 12.0, "fixed_at": bad}
    with pytest.raises(ValidationError):
        validate_payload("text", {"location": loc})


@pytest.mark.parametrize("accuracy", [-1.0, -0.0001, math.nan, math.inf, "12", None, True])
def test_odd_accuracies_are_refused_by_the_payload_model(accuracy):
    loc = {"lat": 53.48, "lon": -2.24, "accuracy": accuracy, "fixed_at": TAP.isoformat()}
    with pytest.raises(ValidationError):
        validate_payload("text", {"location": loc})


@pytest.mark.django_db
def test_an_odd_fix_time_is_a_clear_error_and_nothing_is_written(cast, frozen_clock):
    loc = {**HOME, "fixed_at": "yesterday"}
    with pytest.raises(Invalid) as err:
        say(cast.anna, cast.team, "Check in", location=loc, tapped_at=T0.isoformat())
    assert "fixed_at" in str(err.value)
    assert not Message.objects.filter(room=cast.team).exclude(sender__role="bot").exists()


@pytest.mark.django_db
def test_a_fresh_fix_checks_in_at_home(cast, frozen_clock):
    fixed = (T0 - dt.timedelta(seconds=4)).isoformat()
    say(
        cast.anna,
        cast.team,
        "Check in",
        location={**HOME, "fixed_at": fixed},
        tapped_at=T0.isoformat(),
    )
    run()
    v = Visit.objects.get()
    assert v.checkin_location == "in_range" and v.checkin_accuracy_m == HOME["accuracy"]


@pytest.mark.django_db
def test_a_stale_fix_is_recorded_as_position_not_fresh_and_not_kept(cast, frozen_clock):
    fixed = (T0 - dt.timedelta(seconds=45)).isoformat()  # a cached fix from outside
    msg = say(
        cast.anna,
        cast.team,
        "Check in",
        location={**HOME, "fixed_at": fixed},
        tapped_at=T0.isoformat(),
    )
    run()
    v = Visit.objects.get()  # the check-in is recorded: nothing lost, nothing blocked
    assert v.checkin_message_id == msg.id and v.checked_in_at == T0
    assert v.checkin_location == "no_location"  # a location exception, flagged for review
    assert v.checkin_lat is None and v.checkin_lon is None  # the stale fix is not used
    texts = " ".join(m.body for m in bot_entries(cast.team))
    assert "position not fresh" in texts
    kept = dt.datetime.fromisoformat(msg.payload["location"]["fixed_at"])
    assert kept == dt.datetime.fromisoformat(fixed)  # the claim stays in the record
