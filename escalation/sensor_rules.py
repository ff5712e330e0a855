"""Escalation rules over home-sensor signals: validated data plus one pure function.

The rules live in ``escalation/rules/sensors.yaml``; :func:`evaluate` takes one reading
(the ``data`` of a ``{"signal": "sensor"}`` log entry, docs/log-contract.md) and returns
the rules it fires, with a short reason for care managers. No database, no clock: the
reading carries its own time, and night windows are judged on it, not on when the
detector happens to run (a late-delivered 02:10 door event is still "at night").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, AwareDatetime, Field, field_validator, model_validator

from escalation.policy import QuietHours
from escalation.schemas import Concern, Severity, Strict
from rooms.bounds import FiniteFloat, in_range

SENSOR_RULES_FILE = Path(__file__).resolve().parent / "rules" / "sensors.yaml"

ReadingKind = Literal["door", "motion", "bed", "pendant", "no_movement"]
Instant = Annotated[AwareDatetime, AfterValidator(in_range)]


class SensorReading(Strict):
    """The escalation engine's copy of the sensor signal contract (extra fields refused)."""

    kind: ReadingKind
    value: Annotated[FiniteFloat, Field(ge=0, le=1_000_000)]
    occurred_at: Instant
    location: str = Field("", max_length=60)
    device: str = Field("", max_length=64)
    hub: int | None = Field(None, ge=1)
    event_id: str = Field("", max_length=100)
    window_start: Instant | None = None


def _norm(label: str) -> str:
    return " ".join(label.split()).casefold()


class When(Strict):
    kind: ReadingKind
    min_value: float | None = Field(None, ge=0, allow_inf_nan=False)
    locations: list[str] | None = Field(None, min_length=1, max_length=50)
    between: QuietHours | None = None

    @field_validator("locations")
    @classmethod
    def _normalised(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_norm(x) for x in v]


class SensorRule(Strict):
    id: str = Field(pattern=r"^sensor\.[a-z_]+$")
    concern: Concern
    severity: Severity
    reason: str = Field(min_length=1, max_length=200)
    when: When


class SensorRuleSet(Strict):
    version: int = Field(ge=1)
    # Zone of the times quoted in reasons ("at 02:10").
    timezone: str = "Europe/London"
    rules: list[SensorRule] = Field(min_length=1, max_length=100)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _ids_unique(self) -> SensorRuleSet:
        ids = [r.id for r in self.rules]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate rule id {sorted(dup)[0]}")
        return self


@dataclass(frozen=True)
class SensorHit:
    rule: str
    concern: str
    severity: str
    reason: str


def parse_sensor_rules(data: object) -> SensorRuleSet:
    """Validate rules data (already parsed from YAML/JSON); raises pydantic.ValidationError."""
    return SensorRuleSet.model_validate(data)


def load_sensor_rules(path: Path = SENSOR_RULES_FILE) -> SensorRuleSet:
    return parse_sensor_rules(yaml.safe_load(path.read_text(encoding="utf-8")))


@functools.cache
def default_sensor_rules() -> SensorRuleSet:
    return load_sensor_rules()


def fires(when: When, reading: SensorReading) -> bool:
    if reading.kind != when.kind:
        return False
    if when.min_value is not None and reading.value < when.min_value:
        return False
    if when.locations is not None and _norm(reading.location) not in when.locations:
        return False
    return when.between is None or when.between.contains(reading.occurred_at)


def _reason(rule: SensorRule, reading: SensorReading, tz: ZoneInfo) -> str:
    at = reading.occurred_at.astimezone(tz)
    if reading.kind == "no_movement" and reading.window_start is not None:
        since = reading.window_start.astimezone(tz)
        text = f"{rule.reason}: none between {since:%H:%M} and {at:%H:%M}"
    else:
        text = f"{rule.reason} at {at:%H:%M} on {at:%d %b}"
    if reading.location:
        text += f" ({reading.location})"
    return text[:500]


def evaluate(reading: SensorReading, ruleset: SensorRuleSet | None = None) -> list[SensorHit]:
    """Every rule ``reading`` fires, in rule order. Pure."""
    rs = ruleset or default_sensor_rules()
    tz = ZoneInfo(rs.timezone)
    return [
        SensorHit(r.id, r.concern, r.severity, _reason(r, reading, tz))
        for r in rs.rules
        if fires(r.when, reading)
    ]
