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

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


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
    json.dumps(out, allow_nan=False)  # what is stored is plain, finite JSON
    # Re-validating the normalised form gives the same thing (stable, nothing dropped twice).
    assert validate_payload(kind, out) == out


MAY_PASS = (None, -1, "x" * 500, [], {"extra": 1}, EDGE_STRINGS[0], 2**64)
# Never a valid value of any field of these configs: a non-finite number (rooms/bounds.py).
MUST_FAIL = (float("nan"), float("inf"), float("-inf"))


def _mutations(doc):
    """(document with one thing changed, must it be refused?) at every depth: each field
    replaced by odd values (which an optional or free-text field may accept), by non-finite
    numbers (never acceptable), and an undeclared field added to every object."""
    if isinstance(doc, dict):
        for k in list(doc):
            for bad in MAY_PASS:
                yield {**doc, k: bad}, False
            for bad in MUST_FAIL:
                yield {**doc, k: bad}, True
            for sub, must_fail in _mutations(doc[k]):
                yield {**doc, k: sub}, must_fail
        yield {**doc, "undeclared": True}, True
    elif isinstance(doc, list) and doc:
        yield doc[1:], False
        yield [*doc, doc[0]], False
        for sub, must_fail in _mutations(doc[0]):
            yield [sub, *doc[1:]], must_fail


def _check_mutations(parse, doc, limit=3000) -> tuple[int, int]:
    """Parse every mutation: a must-fail one raises ValidationError; an accepted one is a
    model whose JSON form is finite and parses back to the same model. Returns (refused,
    accepted)."""
    refused = accepted = 0
    for mutated, must_fail in _mutations(doc):
        try:
            model = parse(mutated)
        except ValidationError:
            refused += 1
        else:
            assert not must_fail, mutated
            again = json.loads(json.dumps(model.model_dump(mode="json"), allow_nan=False))
            assert parse(again) == model, mutated
            accepted += 1
        if refused + accepted >= limit:
            break
    return refused, accepted


def test_question_bank_mutations_are_refused_or_consistent():
    refused, accepted = _check_mutations(
        QuestionBank.model_validate, load_bank().model_dump(mode="json")
    )
    assert refused > 100 and accepted >= 5


def test_rule_set_mutations_are_refused_or_consistent():
    refused, accepted = _check_mutations(parse_rules, default_rules().model_dump(mode="json"))
    assert refused > 100 and accepted > 20


def test_policy_mutations_are_refused_or_consistent():
    refused, accepted = _check_mutations(parse_policy, default_policy().model_dump(mode="json"))
    assert refused > 50 and accepted >= 5


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
