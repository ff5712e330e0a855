"""Issue 15: an offline check-in/out keeps its tap time, bounded by the server.

Pure bounds first (bots/taptime.py), then the runner over a real database: the visit's
times are the bounded tap times, the arrival times are kept beside them, and odd tap
times are refused at the write path with nothing written."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from bots.models import Visit
from bots.taptime import bounded_tap_time, parse_tapped
from cocare_chat import clock
from rooms.errors import Invalid
from rooms.models import Message
from rooms.payloads import validate_payload
from tests.bots.helpers import HOME, bot_entries, run, say
from tests.support.cast import T0

R = dt.datetime(2026, 3, 2, 13, 31, 58, tzinfo=dt.UTC)
AGE = dt.timedelta(hours=4)


def b(tapped, *, not_before=None, received=R):
    return bounded_tap_time(tapped, received, not_before=not_before, max_age=AGE)


def test_a_tap_within_the_bounds_is_kept():
    tapped = R - dt.timedelta(seconds=66)
    assert b(tapped) == tapped
    assert b(R - AGE) == R - AGE  # exactly the limit: kept


def test_no_tap_time_means_the_arrival_time():
    assert b(None) == R


def test_a_tap_in_the_future_is_the_arrival_time():
    assert b(R + dt.timedelta(seconds=1)) == R
    assert b(R + dt.timedelta(days=3)) == R


def test_a_tap_older_than_the_limit_is_not_believed():
    assert b(R - AGE - dt.timedelta(seconds=1)) == R
    assert b(R - dt.timedelta(days=400)) == R


def test_a_tap_is_never_before_the_previous_visit_event():
    prev = R - dt.timedelta(minutes=5)
    assert b(R - dt.timedelta(minutes=20), not_before=prev) == prev
    assert b(R - dt.timedelta(minutes=2), not_before=prev) == R - dt.timedelta(minutes=2)
    # A previous event "after" the arrival (clock trouble) never pushes past the arrival.
    assert b(R - dt.timedelta(minutes=2), not_before=R + dt.timedelta(hours=1)) == R


def test_tap_times_from_another_zone_compare_as_instants():
    cet = dt.timezone(dt.timedelta(hours=1))
    tapped = (R - dt.timedelta(minutes=1)).astimezone(cet)
    assert b(tapped) == tapped and b(tapped).utcoffset() == dt.timedelta(hours=1)


def test_parse_tapped_reads_only_aware_iso_strings():
    assert parse_tapped({"tapped_at": "2026-03-02T13:30:52+00:00"}) == R - dt.timedelta(seconds=66)
    assert parse_tapped({"tapped_at": "2026-03-02T13:30:52"}) is None
    assert parse_tapped({"tapped_at": 1772458252}) is None
    assert parse_tapped({}) is None and parse_tapped(None) is None


@pytest.mark.parametrize(
    "bad",
    [
        1772458252,  # seconds since 1970: a wrong type
        True,
        "2026-03-02T13:30:52",  # no offset: whose 13:30?
        "yesterday",
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59+00:00",
        "2026-03-02T13:30:52+25:00",
        "２０２６-03-02T13:30:52+00:00",  # full-width digits
        {"at": "2026"},
    ],
)
def test_odd_tap_times_are_refused_by_the_payload_model(bad):
    with pytest.raises(ValidationError):
        validate_payload("text", {"tapped_at": bad})


# ---- the runner ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_offline_check_in_and_out_keep_their_tap_times(cast, frozen_clock):
    tapped_in = T0 - dt.timedelta(seconds=66)
    msg = say(cast.anna, cast.team, "Check in", location=HOME, tapped_at=tapped_in.isoformat())
    run()
    v = Visit.objects.get()
    assert msg.created_at == T0
    assert v.checked_in_at == tapped_in and v.checkin_received_at == T0
    notice = [m.body for m in bot_entries(cast.team, "system")][0]
    assert "checked in 08:58" in notice  # T0 is 09:00 London; the tap was 08:58:54
    clock.advance(dt.timedelta(minutes=40))
    tapped_out = clock.now() - dt.timedelta(minutes=10)
    say(cast.anna, cast.team, "Check out", location=HOME, tapped_at=tapped_out.isoformat())
    run()
    v.refresh_from_db()
    assert v.checked_out_at == tapped_out and v.checkout_received_at == clock.now()
    assert v.duration_minutes == 31  # 08:58:54 to 09:30:00


@pytest.mark.django_db
def test_a_check_out_tapped_before_its_check_in_is_recorded_at_the_check_in(cast, frozen_clock):
    say(cast.anna, cast.team, "Check in", location=HOME, tapped_at=T0.isoformat())
    run()
    clock.advance(dt.timedelta(minutes=5))
    early = T0 - dt.timedelta(minutes=30)
    say(cast.anna, cast.team, "Check out", location=HOME, tapped_at=early.isoformat())
    run()
    v = Visit.objects.get()
    assert v.checked_out_at == T0 and v.checked_out_at >= v.checked_in_at
    assert v.duration_minutes == 0


@pytest.mark.django_db
def test_a_phone_clock_in_the_future_or_days_behind_gets_the_arrival_time(cast, frozen_clock):
    say(cast.anna, cast.team, "Check in", location=HOME, tapped_at="2026-12-31T09:00:00+00:00")
    run()
    assert Visit.objects.get().checked_in_at == T0
    clock.advance(dt.timedelta(minutes=20))
    days_ago = (clock.now() - dt.timedelta(days=2)).isoformat()
    say(cast.anna, cast.team, "Check out", location=HOME, tapped_at=days_ago)
    run()
    assert Visit.objects.get().checked_out_at == clock.now()


@pytest.mark.django_db
def test_a_check_in_is_never_before_the_workers_previous_check_out(cast, frozen_clock):
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    clock.advance(dt.timedelta(minutes=30))
    say(cast.anna, cast.team, "Check out", location=HOME)
    run()
    out_at = clock.now()
    clock.advance(dt.timedelta(minutes=30))
    # Next visit's check-in claims a time during the previous visit: bounded to its end.
    claim = (out_at - dt.timedelta(minutes=10)).isoformat()
    say(cast.anna, cast.team, "Check in", location=HOME, tapped_at=claim)
    run()
    latest = Visit.objects.order_by("-id").first()
    assert latest.checked_in_at == out_at


@pytest.mark.django_db
def test_a_bad_tap_time_is_refused_with_a_clear_error_and_nothing_written(cast, frozen_clock):
    before = Message.objects.count()
    with pytest.raises(Invalid) as err:
        say(cast.anna, cast.team, "Check in", location=HOME, tapped_at="9999-01-01T00:00:00Z")
    assert "tapped_at" in str(err.value.message)
    assert Message.objects.count() == before and not Visit.objects.exists()
