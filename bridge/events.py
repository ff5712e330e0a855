"""Pydantic models of the Matrix input we accept (DESIGN.md §3.8).

The fields we act on are declared and validated; *undeclared* fields are ignored rather
than forbidden here, on purpose: the Matrix spec is extensible (clients add
``m.mentions``, ``format``/``formatted_body``, homeservers add ``unsigned``, ``age`` ...)
and refusing them would drop ordinary Element messages. See docs/matrix.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class AppserviceTransaction(Lenient):
    events: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)


class MatrixEvent(Lenient):
    event_id: str = Field(min_length=2, max_length=255)
    room_id: str = Field(min_length=2, max_length=255)
    sender: str = Field(min_length=2, max_length=255)
    type: str = Field(min_length=1, max_length=255)
    content: dict[str, Any] = Field(default_factory=dict)
    state_key: str | None = Field(default=None, max_length=255)
    redacts: str | None = Field(default=None, max_length=255)


class InReplyTo(Lenient):
    event_id: str = Field(min_length=2, max_length=255)


class Relation(Lenient):
    rel_type: str | None = None
    event_id: str | None = Field(default=None, max_length=255)
    in_reply_to: InReplyTo | None = Field(default=None, alias="m.in_reply_to")


class NewContent(Lenient):
    msgtype: str = "m.text"
    body: str


class MessageContent(Lenient):
    msgtype: str
    body: str
    relates_to: Relation | None = Field(default=None, alias="m.relates_to")
    new_content: NewContent | None = Field(default=None, alias="m.new_content")


class MemberContent(Lenient):
    membership: str


class RedactionContent(Lenient):
    redacts: str | None = Field(default=None, max_length=255)  # room versions >= 11


class PollAnswers(Lenient):
    answers: list[str] = Field(min_length=1, max_length=20)


class PollResponseContent(Lenient):
    """Unstable MSC3381 ``{"org.matrix.msc3381.poll.response": {"answers": [...]}}`` or
    stable ``{"m.selections": [...]}`` (a plain list of answer ids)."""

    relates_to: Relation = Field(alias="m.relates_to")
    response: PollAnswers | None = Field(default=None, alias="org.matrix.msc3381.poll.response")
    selections: list[str] | None = Field(
        default=None, alias="m.selections", min_length=1, max_length=20
    )

    def answers(self) -> list[str] | None:
        return self.response.answers if self.response is not None else self.selections
