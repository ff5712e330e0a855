"""Websocket frames from clients, validated by pydantic (docs/protocol.md).

Undeclared fields are rejected; every failure becomes an ``error`` frame that names the
problem, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

ClientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
RoomId = Annotated[int, Field(ge=1, le=2**62)]
Seq = Annotated[int, Field(ge=0, le=2**62)]
Ref = Annotated[str, Field(max_length=64)]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ref: Ref | None = None


class Subscribe(Frame):
    type: Literal["subscribe"]
    room: RoomId
    after_seq: Seq = 0


class Unsubscribe(Frame):
    type: Literal["unsubscribe"]
    room: RoomId


class Send(Frame):
    type: Literal["send"]
    room: RoomId
    client_id: ClientId
    kind: Literal["text", "note", "answer"] = "text"
    body: str = Field(default="", max_length=100_000)
    payload: dict[str, Any] | None = None
    reply_to: Seq | None = None


class Edit(Frame):
    type: Literal["edit"]
    room: RoomId
    client_id: ClientId
    target: Seq
    body: str = Field(max_length=100_000)


class Redact(Frame):
    type: Literal["redact"]
    room: RoomId
    client_id: ClientId
    target: Seq


class Typing(Frame):
    type: Literal["typing"]
    room: RoomId


class Read(Frame):
    type: Literal["read"]
    room: RoomId
    seq: Seq


class Delivered(Frame):
    """The client has received the room's entries up to ``seq`` (docs/protocol.md)."""

    type: Literal["delivered"]
    room: RoomId
    seq: Seq


class Ping(Frame):
    type: Literal["ping"]


ClientFrame = Annotated[
    Subscribe | Unsubscribe | Send | Edit | Redact | Typing | Read | Delivered | Ping,
    Field(discriminator="type"),
]
client_frame = TypeAdapter(ClientFrame)
