"""Schemathesis against our OpenAPI spec (/api/openapi.json), signed in as a care manager.

Every operation gets generated requests (valid and invalid by the schema); the checks:
never a 5xx, and every refusal is a JSON error. (Status-code conformance is not asserted:
the spec does not list the 400/422 that ninja answers for malformed path and body input
on every operation — see docs/security.md, "Known gaps".)
Bounded: ``max_examples`` per operation, no shrinking database, derandomized for CI.
"""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import urlsplit

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from bots.models import Goal, PlannedVisit
from cocare_chat import clock
from escalation.models import Flag
from rooms.models import Membership, Message, PushDevice
from sensors.actions import do_create_hub
from sensors.models import SensorEvent
from tests.fuzz.strategies import Raw, to_json_text
from tests.support.cast import build_cast

CSRF = "s" * 32  # a syntactically valid CSRF secret, sent as cookie and header

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
CALLS = {"n": 0}


def routed(url: str) -> bool:
    try:
        resolve(urlsplit(url).path)
    except Resolver404:
        return False
    return True


@pytest.fixture
def signed_in(db):
    # The WSGI handler would close the test's connection at each request's end (as the
    # Django test client avoids): keep it, the test runs in one rolled-back transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield _session()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _session():
    cast = build_cast()
    c = Client()
    c.force_login(cast.carol.user)
    return (
        {"sessionid": c.cookies["sessionid"].value, "csrftoken": CSRF},
        {"X-CSRFToken": CSRF, "Referer": "http://localhost/"},
    )


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_errors_and_matches_its_schema(case, signed_in):
    cookies, headers = signed_in
    response = case.call(headers=headers, cookies=cookies)
    CALLS["n"] += 1
    case.validate_response(response, checks=[not_a_server_error])
    sent_type = response.request.headers.get("Content-Type", "application/json")
    # A clear error: JSON naming the problem. Exceptions, both still 4xx and written nothing:
    # 405 for a method the API does not have, and Django's own 400 page for a body that
    # claims multipart/form-data but is not (rejected by the CSRF check before any view).
    # A path no route matches (a non-integer id where the route has <int:...>) is Django's
    # plain 404 page: no view ran.
    if (
        response.status_code >= 400
        and response.status_code != 405
        and sent_type.startswith("application/json")
        and routed(response.request.url)
    ):
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(
                (response.status_code, case.as_curl_command(), response.text[:300])
            ) from None
        assert set(body) >= {"error", "message"}, body


# ---- the boundary rule: hostile values in every field --------------------------------------
#
# For every operation of the served spec, schemathesis generates one valid case; then every
# field it declares — path and query parameters, body properties and the nested fields of a
# message's free-form ``payload`` — gets, one field at a time, each hostile value: non-finite
# numbers as raw JSON tokens (the body is sent as bytes, verbatim), huge integers,
# out-of-range dates, Unicode look-alikes and wrong types. Ids in paths and bases for the
# write endpoints are real (the signed-in manager's rooms and person), so a hostile value
# reaches as deep as the write path. Every answer is < 500; a refusal is a JSON error and
# writes nothing; no submitted text reaches the log.

sweep = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
sweep.config.generation.update(modes=[GenerationMode.POSITIVE])
sweep.config.phases.update(phases=["fuzzing"])  # one generated base case per operation
SPEC = sweep.raw_schema
WRITTEN = (Message, PlannedVisit, Goal, Flag, Membership, PushDevice, SensorEvent)
BODY_VALUES = [
    Raw("NaN"),
    Raw("1e999"),
    2**64,
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-23:59",
    "１２３",
    [],
]
TEXT_VALUES = [
    "NaN",
    "1e999",
    str(2**64),
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-23:59",
    "１２３",
]
HUB_DEVICE = {"device_id": "pir-hall", "kind": "motion", "location": "Hall"}


@pytest.fixture
def sweep_session(db):
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        cast = build_cast()
        _, hub_token = do_create_hub(cast.peggy, "Sweep hub", devices=[HUB_DEVICE], now=clock.now())
        c = Client()
        c.force_login(cast.carol.user)
        yield (
            cast,
            hub_token,
            {"sessionid": c.cookies["sessionid"].value, "csrftoken": CSRF},
            {"X-CSRFToken": CSRF, "Referer": "http://localhost/"},
        )
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _base(case, cast, hub_token: str, marker: str) -> dict[str, str]:
    """Real ids in the path and a valid body for the write endpoints; returns the headers
    the operation needs beyond the session (a hub's token for sensor batches)."""
    ids = {"room_id": cast.team.id, "su_id": cast.peggy.id, "person_id": cast.debbie.id}
    case.path_parameters = {k: ids.get(k, v) for k, v in (case.path_parameters or {}).items()}
    if case.path == "/api/sensors/events":
        case.body = {
            "events": [
                {
                    "device_id": HUB_DEVICE["device_id"],
                    "event_id": "sweep",
                    "kind": "motion",
                    "value": 1,
                    "occurred_at": clock.now().isoformat(),
                }
            ]
        }
        return {"Authorization": f"Bearer {hub_token}"}
    if case.method == "POST" and case.path.endswith("/messages"):
        case.body = {
            "client_id": "sweep",
            "kind": "text",
            "body": f"{marker} message",
            "payload": {"location": {"lat": 53.48, "lon": -2.24, "accuracy": 12.0}},
        }
    elif (
        case.path.endswith("/planned")
        and case.method == "POST"
        or case.path.startswith("/api/visits/planned/")
        and case.method == "PUT"
    ):
        case.body = {
            "worker_id": cast.anna.id,
            "window_start": "2026-03-03T09:00:00Z",
            "window_end": "2026-03-03T09:30:00Z",
            "notes": f"{marker} notes",
        }
    return {}


def _declared(case) -> list[str]:
    op = SPEC["paths"][case.path][case.method.lower()]
    ref = (
        op.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
        .get("$ref")
    )
    if not ref:
        return []
    return list(SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"])


def _variants(case):
    """(where, field path, value) for every field and every hostile value."""
    for where, container, values in (
        ("path", case.path_parameters, TEXT_VALUES),
        ("query", _query_names(case), TEXT_VALUES),
    ):
        for name in container:
            for v in values:
                yield where, (name,), v
    if isinstance(case.body, dict) and _takes_json(case):
        fields = list(dict.fromkeys([*_leaves(case.body), *((f,) for f in _declared(case))]))
        for path in fields:
            for v in BODY_VALUES:
                yield "body", path, v


def _takes_json(case) -> bool:
    """JSON-bodied operations; multipart uploads (attachments) have their own odd-input
    tests in tests/attachments/."""
    op = SPEC["paths"][case.path][case.method.lower()]
    return "application/json" in op.get("requestBody", {}).get("content", {})


def _query_names(case) -> list[str]:
    op = SPEC["paths"][case.path][case.method.lower()]
    return [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]


def _leaves(doc, prefix: tuple = ()):
    """Paths of every leaf of a JSON document (keys and list indices), nested ones too."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for k, v in items:
        if isinstance(v, dict | list) and v:
            yield from _leaves(v, (*prefix, k))
        else:
            yield (*prefix, k)


def _with(doc: dict, path: tuple, value) -> dict:
    out = json.loads(json.dumps(doc))
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def _log_text(caplog) -> str:
    """Every captured record as written, tracebacks included; request paths (which the
    django.request lines name, and which carry ids by design) blanked out."""
    out = []
    for r in caplog.records:
        text = caplog.handler.format(r)
        request = getattr(r, "request", None)
        if request is not None:
            text = text.replace(request.path, "<path>")
        out.append(text)
    return "\n".join(out)


@sweep.parametrize()
@settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_hostile_values_in_every_field_are_refused_cleanly_and_never_logged(
    case, sweep_session, caplog
):
    cast, hub_token, cookies, headers = sweep_session
    caplog.set_level(logging.DEBUG)
    marker = f"sweep-{uuid.uuid4().hex[:10]}"
    headers = {**headers, **_base(case, cast, hub_token, marker)}
    base_path, base_query, base_body = case.path_parameters, case.query, case.body
    for i, (where, path, value) in enumerate(_variants(case)):
        case.path_parameters, case.query, case.body = base_path, base_query, base_body
        if where == "path":
            case.path_parameters = {**base_path, path[0]: value}
        elif where == "query":
            case.query = {**(base_query or {}), path[0]: value}
        else:
            body = _with(base_body, path, value)
            if path != ("client_id",) and "client_id" in body:
                body["client_id"] = f"sweep-{i}"  # a retry would answer from the first one
            case.body = to_json_text(body).encode()
        before = [m.objects.count() for m in WRITTEN]
        response = case.call(headers=headers, cookies=cookies)
        what = (where, path, value, response.status_code, response.text[:200])
        assert response.status_code < 500, what
        if (
            response.status_code >= 400
            and response.status_code != 405
            and routed(response.request.url)
        ):
            assert set(response.json()) >= {"error", "message"}, what
            assert [m.objects.count() for m in WRITTEN] == before, what  # nothing written
        if isinstance(value, Raw) and where == "body":
            assert response.status_code == 422, what
            assert response.json()["message"].startswith(".".join(str(k) for k in path) + ": "), (
                what
            )
    case.path_parameters, case.query, case.body = base_path, base_query, base_body
    logged = _log_text(caplog)
    sent = [marker, *(v for v in (*TEXT_VALUES, *BODY_VALUES) if isinstance(v, str))]
    assert not [v for v in sent if len(v) >= 6 and v in logged], logged[-1000:]
