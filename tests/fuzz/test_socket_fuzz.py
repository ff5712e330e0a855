"""Hostile frames through the real ASGI app (origin check, session, consumer, write path).

Hypothesis generates frame-like dicts with wrong types, unknown fields and edge strings;
each is sent on one open socket, followed by a ping. Properties:
- the socket stays open and answers the ping (no crash, no close);
- no ``server_error`` frame (the socket's 500) is ever sent;
- every stored entry was acknowledged, the room's seqs stay gap-free, nothing half-written.

The boundary rule (rooms/bounds.py) over every frame type: each field of each frame type,
nested ones too, gets a non-finite number (raw ``NaN``/``Infinity``/``1e999`` tokens), a
huge integer, an out-of-range date, a wrong type or a Unicode look-alike — one field at a
time, then hypothesis' combinations. A non-finite number anywhere is an ``invalid`` error
naming the field; nothing answers ``server_error``; no submitted text reaches the log.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from channels.db import database_sync_to_async as sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.messages import check_post_message
from rooms.models import Message, Room
from tests.fuzz.strategies import (
    EDGE_STRINGS,
    HOSTILE,
    NON_FINITE,
    Raw,
    frame_like,
    submitted_strings,
    to_json_text,
    with_hostile_leaves,
)
from tests.support.asgi import recv, send, ws_connect
from tests.support.cast import build_cast

pytestmark = pytest.mark.django_db(transaction=True)
N_FRAMES = 250
TRIED = {"frames": 0}


def generate(room_ids: list[int], n: int) -> list[dict]:
    out: list[dict] = []

    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(frame_like(room_ids))
    def collect(frame):
        out.append(frame)

    collect()
    return out


RAW = [
    " ",
    "null",
    "[]",
    "{}",
    "not json",
    '{"type":',
    "[" * 100_000 + "]" * 100_000,
    json.dumps({"type": "send", "room": 1, "client_id": "x", "body": "a" * 40_000}),
    json.dumps({"type": "ping", "ref": "r" * 65}),
    json.dumps({"type": "send", "room": 1.0, "client_id": "f", "body": "float room"}),
    json.dumps({"type": "send", "room": "1", "client_id": "s", "body": "string room"}),
    json.dumps({"type": "send", "room": True, "client_id": "b", "body": "bool room"}),
]


def wire_text(frame) -> str:
    try:
        return json.dumps(frame)
    except (UnicodeEncodeError, ValueError):
        return json.dumps(frame, ensure_ascii=True)


async def assert_alive(comm, ref: str, seen: list[dict]) -> None:
    await send(comm, {"type": "ping", "ref": ref})
    while True:
        f = await recv(comm, timeout=10)
        seen.append(f)
        if f.get("type") == "pong" and f.get("ref") == ref:
            return


async def test_hostile_frames_never_crash_the_socket_or_half_write():
    cast = await sync_to_async(build_cast)()
    rooms = [cast.team.id, cast.family.id, 999_999]
    frames = generate(rooms, N_FRAMES)
    frames += [
        {"type": "send", "room": cast.team.id, "client_id": f"edge-{i}", "body": s}
        for i, s in enumerate(EDGE_STRINGS)
    ]
    comm, hello = await ws_connect(cast.anna)
    assert hello["type"] == "hello"
    seen: list[dict] = []
    for i, frame in enumerate(frames):
        await send(comm, wire_text(frame))
        await assert_alive(comm, f"alive-{i}", seen)
    for i, raw in enumerate(RAW):
        await send(comm, raw)
        await assert_alive(comm, f"raw-{i}", seen)
    await comm.send_to(bytes_data=b"\x00\xff binary")
    await assert_alive(comm, "binary", seen)
    await comm.disconnect()
    TRIED["frames"] = len(frames) + len(RAW) + 1

    errors = [f for f in seen if f.get("type") == "error"]
    assert not [f for f in errors if f["code"] == "server_error"]
    assert {f["code"] for f in errors} >= {"invalid", "bad_json", "too_large", "bad_frame"}
    acked = {(f["room"], f["client_id"]) for f in seen if f.get("type") == "ack"}

    def stored():
        rows = list(Message.objects.filter(sender=cast.anna).values_list("room_id", "client_id"))
        heads = {r.id: r.last_seq for r in Room.objects.all()}
        seqs = {
            rid: sorted(Message.objects.filter(room_id=rid).values_list("seq", flat=True))
            for rid in heads
        }
        return rows, heads, seqs

    rows, heads, seqs = await sync_to_async(stored)()
    assert set(rows) == acked  # every stored entry was acknowledged, and vice versa
    for rid, head in heads.items():
        assert seqs[rid] == list(range(1, head + 1))
    # The script-injection strings are stored verbatim: escaping is the renderer's job.
    bodies = await sync_to_async(
        lambda: set(
            Message.objects.filter(client_id__startswith="edge-").values_list("body", flat=True)
        )
    )()
    assert "<img src=x onerror=alert(1)>" in bodies


# ---- the boundary rule over every frame type ---------------------------------------------------


def valid_frames(team: int, marker: str) -> dict[str, dict]:
    """One well-formed frame of every client frame type (rooms/frames.py)."""
    location = {"lat": 53.48, "lon": -2.24, "accuracy": 12.0}
    return {
        "subscribe": {"type": "subscribe", "room": team, "after_seq": 0, "ref": "s"},
        "unsubscribe": {"type": "unsubscribe", "room": team, "ref": "u"},
        "send": {
            "type": "send",
            "room": team,
            "client_id": "x",
            "kind": "text",
            "body": f"{marker} send body",
            "payload": {"location": location},
            "reply_to": 1,
            "ref": "x",
        },
        "edit": {
            "type": "edit",
            "room": team,
            "client_id": "x",
            "target": 1,
            "body": f"{marker} edit body",
            "ref": "e",
        },
        "redact": {"type": "redact", "room": team, "client_id": "x", "target": 1, "ref": "d"},
        "typing": {"type": "typing", "room": team},
        "read": {"type": "read", "room": team, "seq": 1, "ref": "r"},
        "ping": {"type": "ping", "ref": "p"},
    }


def leaf_paths(doc, prefix=()):
    for k, v in doc.items():
        if isinstance(v, dict):
            yield from leaf_paths(v, (*prefix, k))
        else:
            yield (*prefix, k)


def replaced(doc: dict, path: tuple, value) -> dict:
    out = json.loads(json.dumps(doc))
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def every_field_frames(valid: dict[str, dict]) -> list[dict]:
    """For every frame type and every field (nested ones too): the frame with only that
    field hostile, once with a non-finite number and once with each other kind of value."""
    out, i = [], 0
    others = [v for v in HOSTILE if v not in NON_FINITE]
    for frame in valid.values():
        for path in leaf_paths(frame):
            if path == ("type",):
                continue
            for value in (NON_FINITE[i % len(NON_FINITE)], others[i % len(others)]):
                out.append(replaced(frame, path, value))
                i += 1
    return out


@st.composite
def hostile_frame(draw, valid: dict[str, dict]):
    kind = draw(st.sampled_from(sorted(valid)))
    rest = {k: v for k, v in valid[kind].items() if k != "type"}
    return {"type": kind, **with_hostile_leaves(rest, draw)}


def generate_hostile(valid: dict[str, dict], n: int) -> list[dict]:
    out: list[dict] = []

    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_frame(valid))
    def collect(frame):
        out.append(frame)

    collect()
    return out


def has_non_finite(value) -> bool:
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(has_non_finite(v) for v in value)
    return isinstance(value, Raw)


async def test_hostile_values_in_every_field_of_every_frame_type_are_refused_cleanly(caplog):
    caplog.set_level(logging.DEBUG)
    cast = await sync_to_async(build_cast)()
    marker = f"hostile-{uuid.uuid4().hex[:10]}"
    await sync_to_async(check_post_message)(
        person=cast.anna, room_id=cast.team.id, client_id="seed", body=f"{marker} seed"
    )
    valid = valid_frames(cast.team.id, marker)
    frames = every_field_frames(valid) + generate_hostile(valid, 80)
    assert {f["type"] for f in frames} == set(valid)  # every frame type is exercised
    comm, hello = await ws_connect(cast.anna)
    assert hello["type"] == "hello"
    answers: list[list[dict]] = []
    for i, frame in enumerate(frames):
        if "client_id" in frame and isinstance(frame["client_id"], str):
            frame["client_id"] = f"{frame['client_id']}-{i}"[-64:]
        await send(comm, to_json_text(frame))
        got: list[dict] = []
        await assert_alive(comm, f"alive-{i}", got)
        answers.append(got)
    await comm.disconnect()

    for frame, got in zip(frames, answers, strict=True):
        errors = [f for f in got if f.get("type") == "error"]
        assert not [f for f in errors if f["code"] == "server_error"], (frame, errors)
        if has_non_finite(frame):
            # Refused before anything else, naming the field: never bad_json, never stored.
            assert [f["code"] for f in errors] == ["invalid"], (frame, got)
            assert not [f for f in got if f.get("type") in ("ack", "read_ok", "subscribed")]
    sent = set().union(*(submitted_strings(f) for f in frames)) | {marker}
    leaked = [s for s in sent if s in caplog.text]
    assert not leaked, leaked

    acked = {(f["room"], f["client_id"]) for got in answers for f in got if f.get("type") == "ack"}
    rows = await sync_to_async(
        lambda: set(
            Message.objects.filter(sender=cast.anna)
            .exclude(client_id="seed")
            .values_list("room_id", "client_id")
        )
    )()
    assert rows == acked  # every stored entry was acknowledged, and vice versa
