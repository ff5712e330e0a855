"""Pydantic models for the structured part of log entries (``Message.payload``).

Validated on the write path so nothing malformed is ever persisted. Undeclared fields are
rejected (``extra="forbid"``), except inside the free-form ``data`` maps of cards and
system notices, which bots and the escalation engine version themselves (their numbers are
still finite and fit 64 bits, ``rooms.bounds.JsonObject``).

Signals are validated at write too: the ``data`` of a ``signal`` entry must match the
schema its consumer registered for that signal name (:func:`register_signal`, called from
the consumer's ``AppConfig.ready``); a signal nobody registered is refused. ``rooms``
imports none of its consumers (DESIGN.md §2), so the schemas come to it, not the other
way round (docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from rooms.bounds import FiniteFloat, Id, JsonObject, in_range


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Empty(Strict):
    pass


class CardOption(Strict):
    value: int = Field(ge=0, le=20)
    label: str = Field(min_length=1, max_length=80)
    emoji: str | None = Field(default=None, max_length=16)
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")


def _bounded_iso(value: str) -> str:
    """An ISO 8601 instant in 2000-2100, kept as written."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time") from None
    in_range(parsed)
    return value


class CardPayload(Strict):
    """A bot card: a question with large visual options, or an information card."""

    card_id: str = Field(min_length=1, max_length=64)
    card_type: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=1, max_length=300)
    options: list[CardOption] = Field(default_factory=list, max_length=10)
    data: JsonObject = Field(default_factory=dict)
    expires_at: Annotated[str, AfterValidator(_bounded_iso)] | None = None


class AnswerPayload(Strict):
    card_id: str = Field(min_length=1, max_length=64)
    value: int = Field(ge=0, le=20)
    via: Literal["cocare", "matrix"] = "cocare"


class SystemPayload(Strict):
    event: str = Field(min_length=1, max_length=60)
    data: JsonObject = Field(default_factory=dict)


# signal name -> the pydantic model of its ``data``, registered by the consumer.
SIGNAL_SCHEMAS: dict[str, type[BaseModel]] = {}


def register_signal(name: str, schema: type[BaseModel]) -> None:
    """Declare the shape of ``data`` for signals called ``name`` (idempotent per schema)."""
    existing = SIGNAL_SCHEMAS.get(name)
    if existing is not None and existing is not schema:
        raise ValueError(f"signal {name!r} already has a schema ({existing.__name__})")
    SIGNAL_SCHEMAS[name] = schema


class SignalPayload(Strict):
    """A structured machine event for log consumers (e.g. a bot flag), not a chat bubble.

    ``data`` is validated against the registered schema of ``signal`` and stored in that
    schema's normalised JSON form.
    """

    signal: str = Field(min_length=1, max_length=60)
    data: JsonObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _data_matches_its_schema(self) -> SignalPayload:
        schema = SIGNAL_SCHEMAS.get(self.signal)
        if schema is None:
            raise ValueError("signal: no consumer registered this signal")
        try:
            data = schema.model_validate(self.data)
        except ValidationError as exc:
            # Field names and pydantic's message only: never the submitted values.
            parts = [
                f"data.{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
            ]
            raise ValueError("; ".join(parts)) from None
        self.data = data.model_dump(mode="json", exclude_none=True)
        return self


def _iso_text(value: object) -> object:
    """Only an ISO 8601 string: not a number of seconds, not a boolean."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date and time with its UTC offset")
    return value


# The moment a button was tapped on the phone (its own clock, with a UTC offset). Kept as
# the sender's claim; consumers bound it against the arrival time (bots/taptime.py).
TapTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(in_range)]


class Location(Strict):
    """A phone's position (check-in/out button): WGS84 degrees and accuracy in metres.

    The bots read it at check-in/out only (``bots.geo.Position``, which treats a reading
    less accurate than 100 km as no location): here the bound is what a position can be.
    Strict: numbers only (no "53.4" strings, no booleans).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    lat: FiniteFloat = Field(ge=-90, le=90)
    lon: FiniteFloat = Field(ge=-180, le=180)
    accuracy: FiniteFloat = Field(ge=0, le=20_000_000)
    # When the phone took the fix (Geolocation ``timestamp``): the bots believe a position
    # only if it was taken within ~10 s of the tap (bots/geo.py ``fresh_position``).
    # (ISO text only, as ``tapped_at``: this model's strict mode would refuse the text.)
    fixed_at: Annotated[TapTime, Field(strict=False)] | None = None


class TextPayload(Strict):
    # Where a care worker's message was also shared to the family room, its twin's id.
    shared_from: Id | None = None
    # The position a check-in/out button sent (lat, lon, accuracy in metres).
    location: Location | None = None
    # When the check-in/out button was tapped (it may arrive much later from an outbox).
    tapped_at: TapTime | None = None


class AttachmentPayload(Strict):
    """An ``attachment`` entry: the stored object it carries (``rooms.models.Attachment``).

    The caption is the entry's body (searchable like any text); the bytes never are.
    """

    attachment: Id
    content_type: Literal["image/jpeg", "image/png", "application/pdf"]
    size: int = Field(ge=1, le=2**40)
    width: int | None = Field(default=None, ge=1, le=1_000_000)
    height: int | None = Field(default=None, ge=1, le=1_000_000)
    thumb: bool = False


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "text": TextPayload,
    "note": TextPayload,
    "system": SystemPayload,
    "card": CardPayload,
    "answer": AnswerPayload,
    "edit": Empty,
    "redaction": Empty,
    "signal": SignalPayload,
    "attachment": AttachmentPayload,
}


def validate_payload(kind: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """Return the normalised payload for ``kind``; raises pydantic.ValidationError."""
    model = PAYLOAD_MODELS[kind]
    return model.model_validate(payload or {}).model_dump(mode="json", exclude_none=True)
