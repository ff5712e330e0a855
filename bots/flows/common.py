"""Shared shapes of the pure bot flows: what a step returns (``Outcome``) and helpers.

A flow step is ``(state, event, now) -> Outcome``: no database, no clock, no I/O. The
runner (``bots.runner``) persists the new state and posts the replies and flags through
``rooms.messages.post_message`` in one transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from bots.questionbank import Concern, Severity

LOCAL_TZ = ZoneInfo("Europe/London")
RoomKind = Literal["professional", "family"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reply(Strict):
    """A log entry the bot writes: a notice or a card (signals are ``Flag``)."""

    room: RoomKind
    kind: Literal["system", "card"]
    body: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)


class Flag(Strict):
    """A flag signal for the escalation engine (docs/log-contract.md), professional room."""

    concern: Concern | Literal["location_exception", "missed_visit", "late_visit"]
    severity: Severity
    source: str
    ref: str
    reason: str = Field(max_length=300)
    message_id: int | None = None

    def payload(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        return {"signal": "flag", "data": data}


class ObservationOut(Strict):
    card_id: str
    question_key: str
    question_version: int
    domain: str
    score: int
    goal_id: int | None = None
    answered_by: int
    at: dt.datetime


def hhmm(at: dt.datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%H:%M")


def first_name(display_name: str) -> str:
    return (display_name.split() or [display_name])[0]
