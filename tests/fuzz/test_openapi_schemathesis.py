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
from urllib.parse import urlsplit

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from bots.models import Goal, PlannedVisit
from escalation.models import Flag
from rooms.models import Membership, Message, PushDevice
from tests.fuzz.strategies import (
    hostile_text,
    submitted_strings,
    to_json_text,
    with_hostile_leaves,
)
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
    return ({"sessionid": c.cookies["sessionid"].value, "csrftoken": CSRF},
            {"X-CSRFToken": CSRF, "Referer": "http://localhost/"})


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
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
    if response.status_code >= 400 and response.status_code != 405 \
            and sent_type.startswith("application/json") and routed(response.request.url):
        try:
            body = response.json()
        except ValueError:
            raise AssertionError((response.status_code, case.as_curl_command(),
                                  response.text[:300])) from None
        assert set(body) >= {"error", "message"}, body


# ---- the boundary rule: hostile values in every field --------------------------------------
#
# A second load of the same served spec, with hooks that take each generated (valid) case
# and put hostile values into its fields: non-finite numbers as raw JSON tokens (the body is
# sent as bytes, verbatim), huge integers, out-of-range dates, wrong types and Unicode
# look-alikes; in query strings and path segments as text. Free-form objects (a message's
# ``payload``) are first given a realistic shape, so hostile values land deep inside them.

hostile = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
hostile.config.generation.update(modes=[GenerationMode.POSITIVE])
SEEDS = {"payload": {"location": {"lat": 53.48, "lon": -2.24, "accuracy": 12.0}}}
WRITTEN = (Message, PlannedVisit, Goal, Flag, Membership, PushDevice)


@st.composite
def _hostile_body(draw, body):
    if isinstance(body, dict):
        body = {k: (SEEDS[k] if k in SEEDS and not v else v) for k, v in body.items()}
    return to_json_text(with_hostile_leaves(body, draw)).encode()


@st.composite
def _hostile_params(draw, params):
    params = dict(params or {})
    for k in list(params):
        if draw(st.integers(0, 1)) == 0:
            params[k] = draw(hostile_text)
    return params


@hostile.hook
def flatmap_body(context, body):
    return _hostile_body(body)


@hostile.hook
def flatmap_query(context, query):
    return _hostile_params(query)


@hostile.hook
def flatmap_path_parameters(context, path_parameters):
    return _hostile_params(path_parameters)


def _sent(case) -> set[str]:
    """Text the case carried in its body and query (request paths are logged by design:
    they carry ids, never content — docs/security.md)."""
    body = case.body
    if isinstance(body, bytes):
        body = json.loads(body)  # Python's json reads NaN/Infinity/1e999
    return submitted_strings(body) | submitted_strings(dict(case.query or {}))


@hostile.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_hostile_values_in_every_field_are_refused_cleanly_and_never_logged(
        case, signed_in, caplog):
    cookies, headers = signed_in
    caplog.set_level(logging.DEBUG)
    before = [m.objects.count() for m in WRITTEN]
    response = case.call(headers=headers, cookies=cookies)
    curl = case.as_curl_command()
    assert response.status_code < 500, (response.status_code, curl, response.text[:300])
    if response.status_code >= 400:
        if response.status_code != 405 and routed(response.request.url):
            body = response.json()
            assert set(body) >= {"error", "message"}, (body, curl)
        assert [m.objects.count() for m in WRITTEN] == before, curl  # nothing written
    path = urlsplit(response.request.url).path
    leaked = [s for s in _sent(case) if s in caplog.text and s not in path]
    assert not leaked, (leaked, curl)
