"""Sensor escalation rules and the movement window as pure functions: no database, no clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from escalation.sensor_rules import (
    SENSOR_RULES_FILE,
    SensorReading,
    evaluate,
    parse_sensor_rules,
)
from sensors.family import NOTICES, notice_for
from sensors.movement import first_day, is_movement, window_for
from sensors.schemas import fresh, value_error

LONDON = ZoneInfo("Europe/London")


def at(day: str, hhmm: str) -> dt.datetime:
    return dt.datetime.combine(
        dt.date.fromisoformat(day), dt.time.fromisoformat(hhmm), tzinfo=LONDON
    ).astimezone(dt.UTC)


def reading(kind: str, value: float = 1, when: dt.datetime | None = None, **kw) -> SensorReading:
    return SensorReading(
        kind=kind, value=value, occurred_at=when or at("2026-03-02", "14:00"), **kw
    )


def hits(r: SensorReading) -> list[tuple[str, str, str]]:
    return [(h.rule, h.concern, h.severity) for h in evaluate(r)]


def test_a_pendant_press_is_high_and_a_cancel_is_nothing():
    assert hits(reading("pendant", 1, location="Pendant")) == [
        ("sensor.pendant_pressed", "pendant_pressed", "high")
    ]
    assert hits(reading("pendant", 0)) == []
    (h,) = evaluate(reading("pendant", 1, at("2026-03-02", "15:20"), location="Pendant"))
    assert h.reason == "Pendant pressed at 15:20 on 02 Mar (Pendant)"


@pytest.mark.parametrize(
    ("day", "hhmm", "fires"),
    [
        ("2026-01-10", "02:10", True),
        ("2026-01-10", "23:00", True),
        ("2026-01-10", "05:59", True),
        ("2026-01-10", "06:00", False),
        ("2026-01-10", "22:59", False),
        ("2026-01-10", "14:00", False),
        # Summer time: 23:30 local is 22:30 UTC, still night; 06:30 local is 05:30 UTC, not.
        ("2026-07-10", "23:30", True),
        ("2026-07-10", "06:30", False),
    ],
)
def test_the_front_door_opening_at_night_is_an_alert_by_local_time(day, hhmm, fires):
    r = reading("door", 1, at(day, hhmm), location="Front door")
    expected = [("sensor.door_open_at_night", "door_at_night", "medium")] if fires else []
    assert hits(r) == expected


def test_only_exit_doors_opening_count_and_labels_are_matched_loosely():
    night = at("2026-01-10", "02:40")
    assert hits(reading("door", 1, night, location="  FRONT   door ")) != []
    assert hits(reading("door", 1, night, location="Back door")) != []
    assert hits(reading("door", 1, night, location="Kitchen cupboard")) == []
    assert hits(reading("door", 1, night, location="")) == []
    assert hits(reading("door", 0, night, location="Front door")) == []  # closing


def test_no_movement_is_high_with_the_window_in_the_reason():
    r = reading("no_movement", 0, at("2026-03-02", "10:00"), window_start=at("2026-03-02", "05:00"))
    (h,) = evaluate(r)
    assert (h.concern, h.severity) == ("no_movement", "high")
    assert h.reason == "No movement detected in the morning: none between 05:00 and 10:00"


@given(
    kind=st.sampled_from(["motion", "bed"]),
    value=st.floats(min_value=0, max_value=1_000_000),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 365),
)
def test_motion_and_bed_readings_never_raise_an_alert_on_their_own(kind, value, minutes):
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    assert evaluate(reading(kind, value, when, location="Front door")) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"value": float("nan")},
        {"value": float("inf")},
        {"value": -1},
        {"value": 10**30},
        {"occurred_at": "2999-01-01T00:00:00Z"},
        {"occurred_at": "2026-01-01T00:00:00"},
        {"kind": "smoke"},
        {"extra": 1},
        {"location": "x" * 61},
    ],
)
def test_the_reading_contract_refuses_what_sensors_never_write(bad):
    data = {"kind": "pendant", "value": 1, "occurred_at": "2026-01-01T00:00:00Z"} | bad
    with pytest.raises(ValidationError):
        SensorReading.model_validate(data)


def rules_data() -> dict:
    return yaml.safe_load(SENSOR_RULES_FILE.read_text())


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["rules"][0].update(colour="red"), "colour"),
        (lambda d: d["rules"][0].update(concern="fire"), "concern"),
        (lambda d: d["rules"][0].update(severity="urgent"), "severity"),
        (lambda d: d["rules"][0].update(id="pendant"), "id"),
        (lambda d: d["rules"][1].update(id="sensor.pendant_pressed"), "duplicate"),
        (lambda d: d["rules"][1]["when"]["between"].update(timezone="Mars/Olympus"), "time zone"),
        (lambda d: d["rules"][0]["when"].update(min_value=float("nan")), "min_value"),
        (lambda d: d["rules"][0]["when"].update(kind="toaster"), "kind"),
        (lambda d: d.update(rules=[]), "rules"),
    ],
)
def test_the_rules_file_is_validated_with_the_field_named(mutate, field):
    parse_sensor_rules(rules_data())  # the shipped file is valid
    data = rules_data()
    mutate(data)
    with pytest.raises(ValidationError) as exc:
        parse_sensor_rules(data)
    assert field in str(exc.value)


def test_the_movement_window_follows_the_clocks_on_the_days_they_change():
    # 29 March 2026: clocks go forward. 10:00 BST is 09:00 UTC; the day before, 10:00 UTC.
    lo, hi = window_for(dt.date(2026, 3, 29), dt.time(5), dt.time(10), LONDON)
    assert (lo, hi) == (
        dt.datetime(2026, 3, 29, 4, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 9, tzinfo=dt.UTC),
    )
    lo, hi = window_for(dt.date(2026, 3, 28), dt.time(5), dt.time(10), LONDON)
    assert (lo, hi) == (
        dt.datetime(2026, 3, 28, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 28, 10, tzinfo=dt.UTC),
    )


def test_the_first_check_is_today_before_the_time_and_tomorrow_after_it():
    assert first_day(at("2026-03-02", "09:59"), dt.time(10), LONDON) == dt.date(2026, 3, 2)
    assert first_day(at("2026-03-02", "10:00"), dt.time(10), LONDON) == dt.date(2026, 3, 3)
    # 00:30 local on 2 July is 23:30 UTC on 1 July: the local day is the one that counts.
    assert first_day(at("2026-07-02", "00:30"), dt.time(10), LONDON) == dt.date(2026, 7, 2)


def test_movement_is_a_motion_or_getting_out_of_bed_not_a_door_or_pendant():
    assert is_movement("motion", 1) and is_movement("motion", 3) and not is_movement("motion", 0)
    assert is_movement("bed", 0) and not is_movement("bed", 1)
    assert not is_movement("door", 1) and not is_movement("pendant", 1)


def test_event_freshness_and_values_are_judged_against_now():
    now = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    assert fresh(now + dt.timedelta(minutes=5), now) is None
    assert "future" in fresh(now + dt.timedelta(minutes=5, seconds=1), now)
    assert fresh(now - dt.timedelta(days=7), now) is None
    assert "7 days" in fresh(now - dt.timedelta(days=7, seconds=1), now)
    assert value_error("door", 1) is None and value_error("motion", 7) is None
    assert value_error("bed", 0.5) == "a bed reading is 1 or 0"


def test_family_notices_are_generic_and_only_what_was_agreed():
    when = at("2026-03-02", "15:20")
    assert notice_for("pendant", [], when) is None
    assert notice_for("pendant", ["no_movement"], when) is None
    text = notice_for("pendant", ["pendant"], when)
    assert text == "Pendant pressed at 15:20 \u2014 the care team has been alerted."
    for template in NOTICES.values():  # no device, place or reading placeholders
        assert set(template.replace("{time}", "")) & set("{}") == set()
