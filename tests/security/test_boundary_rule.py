"""The boundary rule (rooms/bounds.py, docs/security.md "Hostile input"), through the real
components: every number a body, query, path or frame carries is finite and fits its
column, every date lies in 2000-2100; a violation is a 4xx ``invalid`` naming the field,
nothing is written, and no log line carries the submitted text (the log rule,
cocare_chat/logsafe.py).

Issue 11, findings 1 and 2: a NaN in a message's ``payload.location.lat`` was a 500 whose
PostgreSQL error, logged at ERROR, quoted the message body; a planned visit in year 9999
was a 500, one at ``0001-01-01T00:00:00+14:00`` was stored as 1 BC and broke every later
list of that person's visits; ``?start=0001-01-01T00:00:00-23:59`` was a 500.
"""

from __future__ import annotations

import asyncio
import io
import logging
import uuid

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.conf import settings
from django.db import DataError, connection
from django.test import Client

from bots.models import PlannedVisit
from bridge import conf
from bridge.models import BridgedRoom
from cocare_chat import clock
from rooms.models import Message
from tests.bridge.conftest import HS_TOKEN, make_config
from tests.fuzz.strategies import Raw, to_json_text
from tests.support.asgi import expect, send, ws_connect
from tests.support.cast import PASSWORD, T0, build_cast
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import missing, subprocess_env

BIG = "99999999999999999999999"  # > 2**64


def marker() -> str:
    return f"chest pain, BP 150/95 {uuid.uuid4().hex[:8]}"


def client_for(person) -> Client:
    # A 500 is answered as the server would (not raised into the test), and logged.
    c = Client(raise_request_exception=False)
    c.force_login(person.user)
    return c


def post_raw(c: Client, url: str, text: str):
    return c.generic("POST", url, text.encode(), content_type="application/json")


def logged(caplog) -> str:
    """Everything logged during the test, with arguments and tracebacks."""
    return caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)


# ---- finding 1: non-finite numbers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "location"),
    [
        ("payload.location.lat", '{"lat": NaN, "lon": -2.24, "accuracy": 12}'),
        ("payload.location.lon", '{"lat": 53.48, "lon": Infinity, "accuracy": 12}'),
        ("payload.location.lat", '{"lat": -Infinity, "lon": -2.24, "accuracy": 12}'),
        ("payload.location.accuracy", '{"lat": 53.48, "lon": -2.24, "accuracy": 1e999}'),
    ],
)
def test_a_non_finite_number_in_a_message_is_422_naming_the_field_and_not_logged(
    cast, caplog, field, location
):
    caplog.set_level(logging.DEBUG)
    body = marker()
    r = post_raw(
        client_for(cast.anna),
        f"/api/rooms/{cast.team.id}/messages",
        f'{{"client_id": "nf", "body": "{body}", "payload": {{"location": {location}}}}}',
    )
    assert r.status_code == 422, r.content[:300]
    assert r.json()["error"] == "invalid"
    assert r.json()["message"].startswith(f"{field}: ")
    assert not Message.objects.filter(client_id="nf").exists()
    assert body not in logged(caplog)


@pytest.mark.django_db(transaction=True)
async def test_a_non_finite_number_in_a_frame_is_an_invalid_error_naming_the_field():
    cast = await sync_to_async(build_cast)()
    comm, _ = await ws_connect(cast.anna)
    await send(
        comm,
        to_json_text(
            {
                "type": "send",
                "room": cast.team.id,
                "client_id": "nf",
                "body": "Check in",
                "ref": "r1",
                "payload": {"location": {"lat": Raw("NaN"), "lon": 1, "accuracy": 5}},
            }
        ),
    )
    error = await expect(comm, "error")
    await send(comm, to_json_text({"type": "subscribe", "room": Raw("1e999")}))
    error2 = await expect(comm, "error")
    await send(comm, {"type": "ping", "ref": "alive"})
    await expect(comm, "pong", ref="alive")
    await comm.disconnect()
    assert (error["code"], error["message"].split(":")[0]) == ("invalid", "payload.location.lat")
    assert (error2["code"], error2["message"].split(":")[0]) == ("invalid", "room")
    stored = await sync_to_async(Message.objects.filter(client_id="nf").exists)()
    assert not stored


@pytest.mark.parametrize(
    ("location", "field"),
    [
        ({"lat": 91, "lon": 0, "accuracy": 5}, "lat"),
        ({"lat": 53.4, "lon": -180.5, "accuracy": 5}, "lon"),
        ({"lat": 53.4, "lon": -2.2, "accuracy": -1}, "accuracy"),
        ({"lat": 53.4, "lon": -2.2}, "accuracy"),
        ({"lat": 53.4, "lon": -2.2, "accuracy": 5, "altitude": 10}, "altitude"),
        ({"lat": "53.4", "lon": -2.2, "accuracy": 5}, "lat"),
    ],
)
def test_a_location_is_a_position_or_refused_naming_the_field(cast, location, field):
    r = client_for(cast.anna).post(
        f"/api/rooms/{cast.team.id}/messages",
        {"client_id": "loc", "body": "Check in", "payload": {"location": location}},
        content_type="application/json",
    )
    assert r.status_code == 422, r.content
    assert f"location.{field}" in r.json()["message"]
    assert not Message.objects.filter(client_id="loc").exists()


def test_a_check_in_position_is_still_accepted_and_stored_as_sent(cast):
    location = {"lat": 53.4808, "lon": -2.2426, "accuracy": 12.5}
    r = client_for(cast.anna).post(
        f"/api/rooms/{cast.team.id}/messages",
        {"client_id": "ok", "body": "Check in", "payload": {"location": location}},
        content_type="application/json",
    )
    assert r.status_code == 201
    assert Message.objects.get(client_id="ok").payload == {"location": location}


def test_a_non_finite_number_in_a_matrix_transaction_is_refused_not_retried(
    cast, client, monkeypatch
):
    monkeypatch.setattr(conf, "load", make_config)
    clock.freeze(T0)
    cast.nadia.matrix_id = "@nadia:cocare.test"
    cast.nadia.save()
    BridgedRoom.objects.create(room=cast.team, matrix_room_id="!team:cocare.test", created_at=T0)
    text = (
        '{"events": [{"event_id": "$nf", "room_id": "!team:cocare.test", '
        '"sender": "@nadia:cocare.test", "type": "m.room.message", "origin_server_ts": 1, '
        '"content": {"msgtype": "m.text", "body": "hello", "x": {"y": NaN}}}]}'
    )
    r = client.put(
        "/_matrix/app/v1/transactions/nf",
        text.encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {HS_TOKEN}",
    )
    # A 503 would make the homeserver retry the same poison transaction for ever.
    assert (r.status_code, r.json()["errcode"]) == (400, "M_BAD_JSON")
    assert "events.0.content.x.y" in r.json()["error"]
    assert not Message.objects.exists()


# ---- huge integers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/rooms/{BIG}/messages",
        "/api/rooms/{team}/messages?after_seq={BIG}",
        "/api/rooms/{BIG}/members",
        "/api/service-users/{BIG}",
        "/api/alerts/{BIG}",
        "/api/visits/service-users/{BIG}/planned",
        "/api/visits/service-users/{BIG}/visits",
        "/people/{BIG}/",
        "/people/{BIG}/team/",
        "/people/{BIG}/manage/members/",
        "/people/{BIG}/manage/visits/",
        "/alerts/{BIG}/",
        "/dashboards/service-user/{BIG}/",
        "/dashboards/provider/?provider={BIG}",
    ],
)
def test_an_id_too_large_for_any_column_is_a_4xx_not_a_500(cast, path):
    r = client_for(cast.carol).get(path.format(BIG=BIG, team=cast.team.id))
    assert r.status_code in (400, 404, 422), (r.status_code, r.content[:200])


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (
            "/api/rooms/{team}/messages",
            {"client_id": "h1", "body": "x", "reply_to": int(BIG)},
            "reply_to",
        ),
        (
            "/api/rooms/{team}/messages",
            {"client_id": "h2", "kind": "edit", "body": "x", "target": 2**64},
            "target",
        ),
        (
            "/api/rooms/{team}/messages",
            {"client_id": "h3", "body": "x", "payload": {"shared_from": 2**64}},
            "payload.shared_from",
        ),
        (
            "/api/rooms/{team}/messages",
            {"client_id": "h4", "body": "x", "payload": {"shared_from": 2**63}},
            "payload.shared_from",
        ),
        ("/api/alerts/concerns", {"message_id": -(2**70), "reason": "worried"}, "message_id"),
        (
            "/api/visits/service-users/{su}/planned",
            {
                "worker_id": 10**30,
                "window_start": "2026-03-03T09:00:00Z",
                "window_end": "2026-03-03T09:30:00Z",
            },
            "worker_id",
        ),
    ],
)
def test_a_huge_integer_in_a_body_is_422_naming_the_field(cast, url, body, field):
    r = client_for(cast.carol).post(
        url.format(team=cast.team.id, su=cast.peggy.id), body, content_type="application/json"
    )
    assert r.status_code == 422, (r.status_code, r.content[:200])
    assert r.json()["error"] == "invalid"
    assert field in r.json()["message"]
    assert Message.objects.filter(sender=cast.carol).count() == 0
    assert not PlannedVisit.objects.exists()


# ---- finding 2: dates outside 2000-2100 ----------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-31T23:00:00", "9999-12-31T23:30:00"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T00:30:00+14:00"),
        ("1999-12-31T10:00:00Z", "1999-12-31T10:30:00Z"),
        ("2100-01-01T10:00:00Z", "2100-01-01T10:30:00Z"),
    ],
)
def test_a_planned_visit_outside_2000_to_2100_is_refused_and_the_lists_keep_working(
    cast, start, end
):
    c = client_for(cast.carol)
    base = f"/api/visits/service-users/{cast.peggy.id}"
    r = c.post(
        f"{base}/planned",
        {"worker_id": cast.anna.id, "window_start": start, "window_end": end},
        content_type="application/json",
    )
    assert r.status_code == 422, r.content[:300]
    assert r.json()["message"].startswith("window_start: ")
    assert not PlannedVisit.objects.exists()
    ok = c.post(
        f"{base}/planned",
        {
            "worker_id": cast.anna.id,
            "window_start": "2026-03-03T09:00:00Z",
            "window_end": "2026-03-03T09:30:00Z",
        },
        content_type="application/json",
    )
    assert ok.status_code == 201
    moved = c.put(
        f"/api/visits/planned/{ok.json()['id']}",
        {"worker_id": cast.anna.id, "window_start": start, "window_end": end},
        content_type="application/json",
    )
    assert moved.status_code == 422 and moved.json()["message"].startswith("window_start: ")
    assert c.get(f"{base}/planned").status_code == 200
    assert c.delete(f"/api/visits/planned/{ok.json()['id']}").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "start=0001-01-01T00:00:00-23:59",
        "end=9999-12-31T23:59:59-23:59",
        "start=1999-12-31T23:59:59Z",
        "end=2100-01-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize("listing", ["visits", "planned"])
def test_visit_lists_refuse_a_start_or_end_outside_2000_to_2100(cast, listing, query):
    r = client_for(cast.carol).get(f"/api/visits/service-users/{cast.peggy.id}/{listing}?{query}")
    assert r.status_code == 422, r.content[:300]
    assert r.json()["message"].startswith(query.split("=")[0] + ": ")


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31"])
def test_a_csv_row_dated_outside_2000_to_2100_is_refused_and_nothing_imported(cast, day):
    csv = (
        "service_user_id,worker_id,date,start,end\n"
        f"{cast.peggy.id},{cast.anna.id},2026-03-03,09:00,09:30\n"
        f"{cast.peggy.id},{cast.anna.id},{day},09:00,09:30\n"
    )
    r = client_for(cast.carol).post(
        "/api/visits/planned-import", {"csv": csv}, content_type="application/json"
    )
    assert r.status_code == 422, r.content[:300]
    assert any(row.startswith("line 3: date: ") for row in r.json()["rows"])
    assert not PlannedVisit.objects.exists()


def test_the_visits_page_refuses_a_date_outside_2000_to_2100(cast):
    r = client_for(cast.carol).post(
        f"/people/{cast.peggy.id}/manage/visits/",
        {"worker": cast.anna.id, "date": "1999-12-31", "start": "08:00", "end": "08:30"},
    )
    assert r.status_code == 200
    assert b"must be between 2000-01-01 and 2100-01-01" in r.content
    assert not PlannedVisit.objects.exists()


# ---- the log rule --------------------------------------------------------------------------


def _configured_handlers() -> list[logging.Handler]:
    """The handlers settings.LOGGING installed (not pytest's capture handlers)."""
    return [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]


def test_a_server_error_is_logged_with_its_type_and_frames_but_never_its_message(
    cast, caplog, monkeypatch
):
    body = marker()

    def failing(**kw):  # what psycopg says when a statement fails: its parameters
        raise DataError(f"invalid input syntax\nLINE 1: ... VALUES (1, 'text', '{kw['body']}')")

    monkeypatch.setattr("rooms.api.check_post_message", failing)
    handlers = _configured_handlers()
    assert handlers
    streams = [io.StringIO() for _ in handlers]
    olds = [h.setStream(s) for h, s in zip(handlers, streams, strict=True)]
    try:
        with caplog.at_level(logging.DEBUG):
            r = client_for(cast.anna).post(
                f"/api/rooms/{cast.team.id}/messages",
                {"client_id": "boom", "body": body},
                content_type="application/json",
            )
    finally:
        for h, old in zip(handlers, olds, strict=True):
            h.setStream(old)
    assert r.status_code == 500
    written = "".join(s.getvalue() for s in streams)
    for out in (written, logged(caplog)):
        assert "Internal Server Error: /api/rooms/" in out
        assert "DataError" in out and "rooms/api.py" in out  # type and frame locations
        assert body not in out and "LINE 1" not in out


def test_every_configured_log_handler_withholds_exception_messages():
    handlers = settings.LOGGING["handlers"]
    assert handlers
    for name, handler in handlers.items():
        assert "safe" in handler.get("filters", []), name
    # Django's own handlers (a DEBUG console printing whole tracebacks, mail_admins) are
    # replaced: their records reach the safe handlers instead.
    for name in ("django", "django.server"):
        assert logging.getLogger(name).handlers == [], name


# ---- through PostgreSQL and a real Daphne --------------------------------------------------


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        missing("PostgreSQL")


@pytest.mark.services
def test_on_postgresql_a_nan_location_is_422_nothing_stored_and_nothing_logged(cast, caplog):
    _require_postgresql()
    caplog.set_level(logging.DEBUG)
    body = marker()
    r = post_raw(
        client_for(cast.anna),
        f"/api/rooms/{cast.team.id}/messages",
        to_json_text(
            {
                "client_id": "pg-nf",
                "body": body,
                "payload": {"location": {"lat": Raw("NaN"), "lon": 1, "accuracy": 5}},
            }
        ),
    )
    assert r.status_code == 422, r.content[:300]
    assert r.json() == {
        "error": "invalid",
        "message": "payload.location.lat: must be a finite number",
    }
    assert not Message.objects.filter(client_id="pg-nf").exists()
    assert body not in logged(caplog)


@pytest.mark.services
def test_on_postgresql_far_dates_are_refused_and_the_persons_visits_stay_listable(cast):
    _require_postgresql()
    c = client_for(cast.carol)
    base = f"/api/visits/service-users/{cast.peggy.id}"
    for start, end in (
        ("0001-01-01T00:00:00+14:00", "0001-01-01T00:30:00+14:00"),
        ("9999-12-31T23:00:00", "9999-12-31T23:30:00"),
    ):
        r = c.post(
            f"{base}/planned",
            {"worker_id": cast.anna.id, "window_start": start, "window_end": end},
            content_type="application/json",
        )
        assert r.status_code == 422 and r.json()["message"].startswith("window_start: ")
    assert not PlannedVisit.objects.exists()
    for listing in ("planned", "visits"):
        r = c.get(f"{base}/{listing}?start=0001-01-01T00:00:00-23:59")
        assert r.status_code == 422 and r.json()["message"].startswith("start: ")
        assert c.get(f"{base}/{listing}").status_code == 200


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_over_a_real_daphne_a_nan_frame_is_invalid_not_server_error_and_not_logged():
    _require_postgresql()
    cast = build_cast()
    body = marker()
    server = ServerProcess(subprocess_env(redis=False, COCARE_LOG_LEVEL="DEBUG")).start()

    async def scenario():
        anna = await WsClient(server.ws_url, login_cookies(server.url, "anna", PASSWORD)).connect()
        await anna.expect("hello")
        await anna.ws.send(
            to_json_text(
                {
                    "type": "send",
                    "room": cast.team.id,
                    "client_id": "live-nf",
                    "body": body,
                    "payload": {"location": {"lat": Raw("NaN"), "lon": -2.2, "accuracy": 9}},
                    "ref": "nf",
                }
            )
        )
        error = await anna.expect("error")
        await anna.send(
            {
                "type": "send",
                "room": cast.team.id,
                "client_id": "live-ok",
                "body": "Check in",
                "ref": "ok",
                "payload": {"location": {"lat": 53.48, "lon": -2.24, "accuracy": 9}},
            }
        )
        ack = await anna.expect("ack", ref="ok")
        await anna.close()
        return error, ack

    try:
        error, ack = asyncio.run(scenario())
    finally:
        server.stop()
    assert error["code"] == "invalid", error
    assert error["message"].startswith("payload.location.lat: ")
    assert ack["client_id"] == "live-ok"  # the socket stays usable
    assert not Message.objects.filter(client_id="live-nf").exists()
    output = "".join(server.output)
    assert "DEBUG" in output or "INFO" in output  # the server did log, at DEBUG
    assert body not in output
