"""Detection rules: every concern fires on real phrasing, negations and look-alikes do not."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from escalation.rules import default_rules, detect, load_rules, parse_rules


def concerns(text: str) -> set[str]:
    return {h.concern for h in detect(text)}


@pytest.mark.parametrize(
    ("text", "concern"),
    [
        ("She fell in the bathroom last night", "falls"),
        ("Mum was on the floor when I rang this morning", "falls"),
        ("Found him on the floor by the bed", "falls"),
        ("She had a fall on the stairs", "falls"),
        ("Couldn't get her up this morning, called 111", "falls"),
        ("Peggy slipped getting out of the bath", "falls"),
        ("Not eating since Tuesday", "eating_drinking"),
        ("She hasn't eaten anything today", "eating_drinking"),
        ("Refused her lunch and only had a sip of water", "eating_drinking"),
        ("Has gone off her food", "eating_drinking"),
        ("Barely touched her breakfast", "eating_drinking"),
        ("Very confused this morning, didn't know me", "confusion"),
        ("She seemed disorientated and muddled", "confusion"),
        ("Short of breath walking to the kitchen", "breathing"),
        ("Breathless and wheezing overnight", "breathing"),
        ("Complaining of chest pain", "chest_pain"),
        ("Said she had a pain in her chest", "chest_pain"),
        ("Large bruise on her left arm", "injury"),
        ("Skin tear on shin, dressed it", "injury"),
        ("Refused her tablets this morning", "medication"),
        ("Missed her evening tablets", "medication"),
        ("Meds still in the dosette box at teatime", "medication"),
        ("Her son took her bank card again", "safeguarding"),
        ("She says she is scared of her neighbour", "safeguarding"),
        ("He shouted at her and slapped her", "safeguarding"),
        ("Her money has gone missing from the purse", "safeguarding"),
    ],
)
def test_each_concern_fires_on_real_phrasing(text, concern):
    assert concern in concerns(text)


@pytest.mark.parametrize(
    "text",
    [
        "No falls this week",
        "She hasn't fallen",
        "She hasn't had a fall since March",
        "She hasn\u2019t had a fall since March",  # curly apostrophe from a phone keyboard
        "Denies chest pain",
        "No chest pain, no shortness of breath",
        "Chest pain ruled out by the GP",
        "Not confused today, chatting about the garden",
        "No bruising seen during personal care",
        "Never misses her tablets",
        "Without any falls since the new frame",
    ],
)
def test_negated_mentions_are_not_flags(text):
    assert concerns(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "She fell asleep in her chair after lunch",
        "Put her bag on the floor by the door",
        "Falls risk assessment done, all fine",
        "Referred to the falls clinic as routine",
        "Ate well, drank two cups of tea",
        "I'm a bit confused about the rota next week",
        "The chest of drawers needs moving",
        "Blood pressure 130/85",
        "Lovely chat about her garden",
        "Wound up the clock for her",
        "Took her tablets with breakfast",
    ],
)
def test_look_alikes_are_not_flags(text):
    assert concerns(text) == set()


def test_negation_stays_in_its_own_clause():
    assert concerns("No falls, but she was very confused") == {"confusion"}
    assert concerns("Hasn't fallen. She was on the floor when I rang though") == {"falls"}


def test_negated_not_eating_is_not_a_flag_but_not_eating_is():
    assert concerns("She is not eating") == {"eating_drinking"}
    assert concerns("She isn't refusing food any more") == set()


def test_one_message_can_raise_several_concerns_with_rule_severity():
    hits = detect("She fell and has a big bruise on her hip")
    assert {(h.concern, h.severity) for h in hits} == {("falls", "high"), ("injury", "medium")}
    sg = detect("He hit her")
    assert [(h.concern, h.severity) for h in sg] == [("safeguarding", "safeguarding")]


def test_hits_point_at_the_matching_words():
    text = "Mum was on the floor when I rang"
    (hit,) = detect(text)
    assert text[hit.start : hit.end] == "was on the floor"
    assert hit.rule == "falls.floor"


def test_shipped_rules_cover_every_text_concern():
    rs = load_rules()
    assert set(rs.concerns) == {
        "falls",
        "eating_drinking",
        "confusion",
        "breathing",
        "chest_pain",
        "injury",
        "medication",
        "safeguarding",
    }
    assert default_rules() == rs


def _minimal(**over):
    data = {
        "version": 1,
        "negation": {"before": ["no"]},
        "concerns": {
            "falls": {"rules": [{"id": "falls.x", "severity": "high", "patterns": [r"\bfell\b"]}]}
        },
    }
    data.update(over)
    return data


def test_custom_rule_set_is_used_when_given():
    rs = parse_rules(_minimal())
    assert [h.rule for h in detect("she fell", rs)] == ["falls.x"]
    assert detect("she slipped", rs) == []
    assert detect("no she fell", rs) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_minimal(extra=1), "extra"),
        (_minimal(concerns={"gossip": {"rules": []}}), "gossip"),
        (
            _minimal(
                concerns={
                    "falls": {"rules": [{"id": "falls.x", "severity": "dire", "patterns": ["a"]}]}
                }
            ),
            "severity",
        ),
        (
            _minimal(
                concerns={
                    "falls": {
                        "rules": [{"id": "falls.x", "severity": "high", "patterns": ["(unclosed"]}]
                    }
                }
            ),
            "invalid pattern",
        ),
        (
            _minimal(
                concerns={
                    "falls": {"rules": [{"id": "injury.x", "severity": "high", "patterns": ["a"]}]}
                }
            ),
            "must start with",
        ),
        (
            _minimal(
                concerns={
                    "falls": {
                        "rules": [
                            {"id": "falls.x", "severity": "high", "patterns": ["a"], "weight": 2}
                        ]
                    }
                }
            ),
            "weight",
        ),
    ],
)
def test_invalid_rule_data_is_refused_with_a_clear_error(data, message):
    with pytest.raises(ValidationError) as exc:
        parse_rules(data)
    assert message in str(exc.value)
