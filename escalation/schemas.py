"""Shared vocabulary of the escalation engine: concerns, severities, a strict base model,
and the ``flag`` signal it reads from the log (docs/log-contract.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rooms.bounds import Id

Concern = Literal[
    "falls",
    "eating_drinking",
    "confusion",
    "breathing",
    "chest_pain",
    "injury",
    "medication",
    "safeguarding",
    "wellbeing_change",
    "location_exception",
    "missed_visit",
    "late_visit",
    "care_task",
    "other",
    # Home sensors (escalation/rules/sensors.yaml)
    "pendant_pressed",
    "door_at_night",
    "no_movement",
]
CONCERNS: tuple[str, ...] = Concern.__args__  # type: ignore[attr-defined]

Severity = Literal["low", "medium", "high", "safeguarding"]
SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "safeguarding": 3}


def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FlagSignal(Strict):
    """``data`` of a ``flag`` signal (docs/log-contract.md). Registered with
    ``rooms.payloads.register_signal`` (escalation/apps.py), so a malformed flag is refused
    when it is written rather than found when the detector reads it."""

    concern: Concern
    severity: Severity
    source: str = Field(min_length=1, max_length=40)
    ref: str = Field(min_length=1, max_length=120)
    reason: str = Field("", max_length=500)
    message_id: Id | None = None
