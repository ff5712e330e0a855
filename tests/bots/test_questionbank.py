"""The question bank is data validated by pydantic: bad banks are refused clearly."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from bots.questionbank import BANK_FILE, load_bank, parse_bank


def test_the_shipped_bank_is_valid_and_covers_the_soft_signs():
    bank = load_bank()
    keys = {q.key for q in bank.questions}
    for k in (
        "eating_drinking",
        "mobility_falls",
        "confusion",
        "mood",
        "skin",
        "breathing",
        "pain",
        "dressing_washing",
        "social_contact",
        "goal_progress",
    ):
        assert k in keys
    assert bank.screener.key == "different_from_usual"
    assert all(len(q.options) <= 5 for q in bank.questions)


def _raw():
    return yaml.safe_load(BANK_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda b: b["questions"][1].update(surprise=1), "Extra inputs are not permitted"),
        (lambda b: b["questions"].append(dict(b["questions"][1])), "duplicate question keys"),
        (lambda b: b["questions"][1].update(domain="vibes"), "domain"),
        (lambda b: b["questions"][1].update(text="How is {nme} today?"), "placeholders"),
        (lambda b: b["questions"][1]["options"].reverse(), "best answer"),
        (lambda b: b["questions"][1].update(flag={"at_score": 2, "concern": "nope"}), "concern"),
        (lambda b: b["questions"].pop(0), "screener"),
    ],
)
def test_bad_banks_are_refused_with_a_reason(mutate, needle):
    raw = _raw()
    mutate(raw)
    with pytest.raises(ValidationError) as exc:
        parse_bank(yaml.safe_dump(raw, allow_unicode=True))
    assert needle in str(exc.value)
