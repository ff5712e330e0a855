"""Property tests of every pydantic boundary: whatever arrives is either accepted as a
valid model or refused with a ValidationError — never another exception.

Boundaries: websocket frames (rooms/frames.py), log payloads (rooms/payloads.py), the
bots' question bank, escalation rules and policies, Matrix events the bridge accepts.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bots.questionbank import QuestionBank, load_bank
from bridge.events import AppserviceTransaction, MatrixEvent, MessageContent
from escalation.policy import default_policy, parse_policy
from escalation.rules import default_rules, detect, parse_rules
from rooms.frames import client_frame
from rooms.payloads import PAYLOAD_MODELS, validate_payload
from tests.fuzz.strategies import EDGE_STRINGS, frame_like, json_values

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def refuses_cleanly(fn, value):
    with contextlib.suppress(ValidationError):
        fn(value)


@FUZZ
@given(json_values | frame_like([1, 2]))
def test_any_json_is_a_frame_or_a_validation_error(value):
    refuses_cleanly(client_frame.validate_python, value)


@FUZZ
@given(st.sampled_from(sorted(PAYLOAD_MODELS)), json_values)
def test_any_payload_is_normalised_or_refused(kind, value):
    if not isinstance(value, dict):
        value = {"data": value}
    try:
        out = validate_payload(kind, value)
    except ValidationError:
        return
    json.dumps(out)  # what is stored is plain JSON
    # Re-validating the normalised form gives the same thing (stable, nothing dropped twice).
    assert validate_payload(kind, out) == out


def _mutations(doc):
    """The document with one field replaced by something hostile, at every depth."""
    if isinstance(doc, dict):
        for k in list(doc):
            for bad in (None, -1, "x" * 500, [], {"extra": 1}, EDGE_STRINGS[0]):
                yield {**doc, k: bad}
            for sub in _mutations(doc[k]):
                yield {**doc, k: sub}
        yield {**doc, "undeclared": True}
    elif isinstance(doc, list) and doc:
        yield doc[1:]
        yield [*doc, doc[0]]
        for sub in _mutations(doc[0]):
            yield [sub, *doc[1:]]


def _count_and_check(parse, doc, limit=3000) -> int:
    n = 0
    for mutated in _mutations(doc):
        refuses_cleanly(parse, mutated)
        n += 1
        if n >= limit:
            break
    return n


def test_question_bank_mutations_are_refused_cleanly():
    doc = load_bank().model_dump(mode="json")
    assert _count_and_check(QuestionBank.model_validate, doc) > 100


def test_rule_set_mutations_are_refused_cleanly():
    doc = default_rules().model_dump(mode="json")
    assert _count_and_check(parse_rules, doc) > 100


def test_policy_mutations_are_refused_cleanly():
    doc = default_policy().model_dump(mode="json")
    assert _count_and_check(parse_policy, doc) > 20


@FUZZ
@given(json_values)
def test_matrix_events_and_transactions_parse_or_refuse(value):
    refuses_cleanly(MatrixEvent.model_validate, value)
    refuses_cleanly(MessageContent.model_validate, value)
    refuses_cleanly(AppserviceTransaction.model_validate, {"events": value})


@FUZZ
@given(st.sampled_from(EDGE_STRINGS) | st.text(max_size=2000))
def test_detection_never_raises_on_any_text(text):
    hits = detect(text)
    assert isinstance(hits, list)


@pytest.mark.parametrize("depth", [50, 5000, 100_000])
def test_deeply_nested_frames_are_refused_not_crashing(depth):
    raw = "[" * depth + "]" * depth
    try:
        value = json.loads(raw)
    except RecursionError:
        return  # the socket answers bad_json for this (rooms/socket.py)
    refuses_cleanly(client_frame.validate_python, value)
