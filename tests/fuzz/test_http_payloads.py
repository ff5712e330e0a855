"""The hostile-payload corpus against every writing endpoint of the HTTP API.

Oversized, deeply nested, wrong-typed, unicode-edge and script-injection bodies: each
answers a 4xx JSON error or succeeds — never a 5xx — and a refused request writes nothing.
"""

from __future__ import annotations

import json

import pytest

from rooms.models import Message
from tests.fuzz.strategies import EDGE_STRINGS
from tests.security.helpers import client_for

WRONG_TYPES = [None, 0, -1, 2**70, 1.5, True, "", "x", [], {}, [1, "a"], {"a": {"b": []}}]


def bodies():
    for s in EDGE_STRINGS:
        yield {"client_id": "c", "body": s}
        yield {"client_id": "c", "body": "ok", "payload": {"location": {"lat": s}}}
        yield {"client_id": s[:64] or "c", "body": "id"}
    for field in ("client_id", "kind", "body", "payload", "reply_to", "target"):
        for bad in WRONG_TYPES:
            yield {"client_id": "c", "body": "b", field: bad}
    yield {"client_id": "c", "body": "b", "payload": {"shared_from": "\u0000"}}
    yield {"client_id": "c", "body": "b", "payload": {"location": {"lat": float("1e308")}}}
    yield {"client_id": "c", "body": "x" * 200_000}
    yield {"client_id": "c", "kind": "answer", "payload": {"card_id": "\ud800", "value": 1}}
    yield {"client_id": "c", "kind": "note", "body": "<script>alert(1)</script>"}
    yield {"client_id": "c", "kind": "edit", "body": "e", "target": 10**18}


def raw_documents():
    yield b"[" * 50_000 + b"]" * 50_000
    yield b'{"client_id": "c", "body": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    yield b"\xff\xfe not utf-8"
    yield b'{"client_id": "c", "body": "\\ud800 lone"}'
    yield b'{"client_id": "c", "body": "nul \\u0000"}'
    yield b"{" + b'"a":1,' * 100_000 + b'"client_id":"c"}'
    yield b""


@pytest.mark.parametrize("endpoint", ["messages", "members", "concern", "goals", "devices"])
def test_hostile_bodies_never_5xx_and_refusals_write_nothing(cast, endpoint):
    c = client_for(cast.carol)
    urls = {
        "messages": f"/api/rooms/{cast.team.id}/messages",
        "members": f"/api/rooms/{cast.team.id}/members",
        "concern": "/api/alerts/concerns",
        "goals": f"/api/visits/service-users/{cast.peggy.id}/goals",
        "devices": "/api/push-devices",
    }
    url = urls[endpoint]
    tried = 0
    for i, body in enumerate(bodies()):
        if "client_id" in body and body["client_id"] == "c":
            body = {**body, "client_id": f"c{i}"}
        before = Message.objects.count()
        try:
            data = json.dumps(body)
        except ValueError:
            continue
        r = c.post(url, data, content_type="application/json")
        tried += 1
        assert r.status_code < 500, (body, r.content[:300])
        assert r["Content-Type"].startswith("application/json"), body
        if r.status_code >= 400:
            assert Message.objects.count() == before, body
    for raw in raw_documents():
        before = Message.objects.count()
        r = c.generic("POST", url, raw, content_type="application/json")
        tried += 1
        assert r.status_code < 500, (raw[:80], r.content[:300])
        if r.status_code >= 400:
            assert Message.objects.count() == before
    assert tried > 100


def test_script_bodies_are_returned_as_json_strings_not_markup(cast):
    c = client_for(cast.anna)
    payload = "<img src=x onerror=alert(1)>"
    assert (
        c.post(
            f"/api/rooms/{cast.team.id}/messages",
            {"client_id": "xss", "body": payload},
            content_type="application/json",
        ).status_code
        == 201
    )
    r = c.get(f"/api/rooms/{cast.team.id}/messages")
    assert r["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert [m["body"] for m in r.json()["messages"]] == [payload]
