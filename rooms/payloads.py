"""Pydantic models for the structured part of log entries (``Message.payload``).

Validated on the write path so nothing malformed is ever persisted. Undeclared fields are
rejected (``extra="forbid"``), except inside the free-form ``data`` maps that bots and
the escalation engine version themselves.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Empty(Strict):
    pass


class CardOption(Strict):
    value: int = Field(ge=0, le=20)
    label: str = Field(min_length=1, max_length=80)
    emoji: str | None = Field(default=None, max_length=16)
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")


class CardPayload(Strict):
    """A bot card: a question with large visual options, or an information card."""

    card_id: str = Field(min_length=1, max_length=64)
    card_type: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=300)
    options: list[CardOption] = Field(default_factory=list, max_length=10)
    data: dict[str, Any] = Field(default_factory=dict)
    expires_at: str | None = None


class AnswerPayload(Strict):
    card_id: str = Field(min_length=1, max_length=64)
    value: int = Field(ge=0, le=20)
    via: Literal["cocare", "matrix"] = "cocare"


class SystemPayload(Strict):
    event: str = Field(min_length=1, max_length=60)
    data: dict[str, Any] = Field(default_factory=dict)


class SignalPayload(Strict):
    """A structured machine event for log consumers (e.g. a bot flag), not a chat bubble."""

    signal: str = Field(min_length=1, max_length=60)
    data: dict[str, Any] = Field(default_factory=dict)


class TextPayload(Strict):
    # Where a care worker's message was also shared to the family room, its twin's id.
    shared_from: int | None = None
    # The position a check-in/out button sent (lat, lon, accuracy in metres).
    location: dict[str, float] | None = None


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "text": TextPayload,
    "note": TextPayload,
    "system": SystemPayload,
    "card": CardPayload,
    "answer": AnswerPayload,
    "edit": Empty,
    "redaction": Empty,
    "signal": SignalPayload,
}


def validate_payload(kind: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """Return the normalised payload for ``kind``; raises pydantic.ValidationError."""
    model = PAYLOAD_MODELS[kind]
    return model.model_validate(payload or {}).model_dump(exclude_none=True)
