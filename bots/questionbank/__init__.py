"""The versioned question bank: data (``bank.yaml``) validated by pydantic on load.

A change of wording or options is a new ``version`` of that question; observations keep
the key and version they were answered under, so series stay comparable.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

BANK_FILE = Path(__file__).with_name("bank.yaml")

Domain = Literal["social_care_needs", "health", "care_experience", "personal_goals"]
ROTATION_DOMAINS: tuple[str, ...] = (
    "social_care_needs",
    "health",
    "care_experience",
    "personal_goals",
)
Concern = Literal[
    "falls",
    "eating_drinking",
    "confusion",
    "breathing",
    "chest_pain",
    "injury",
    "medication",
    "safeguarding",
    "wellbeing_change",
    "other",
]
Severity = Literal["low", "medium", "high", "safeguarding"]
PLACEHOLDERS = {"name", "goal"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Option(Strict):
    label: str = Field(min_length=1, max_length=80)
    emoji: str = Field(min_length=1, max_length=16)
    colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    # 0 = as good as it gets ... 4 = the most concerning answer.
    score: int = Field(ge=0, le=4)


class FlagRule(Strict):
    at_score: int = Field(ge=1, le=4)
    concern: Concern
    severity: Severity = "medium"


class Question(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{1,59}$")
    version: int = Field(ge=1)
    domain: Domain
    kind: Literal["screener", "question", "goal", "family_voice"] = "question"
    text: str = Field(min_length=5, max_length=200)
    options: list[Option] = Field(min_length=2, max_length=5)
    # Raise a flag when an answer reaches this score (and is worse than last time).
    flag: FlagRule | None = None
    # Ask again at the next visit when the last answer reached this score.
    follow_up_at: int | None = Field(default=None, ge=1, le=4)

    @model_validator(mode="after")
    def _check(self) -> Question:
        names = {f for _, f, _, _ in string.Formatter().parse(self.text) if f is not None}
        if names - PLACEHOLDERS:
            raise ValueError(f"unknown placeholders {sorted(names - PLACEHOLDERS)} in text")
        if self.kind == "goal" and "goal" not in names:
            raise ValueError("a goal question must mention {goal}")
        if self.kind != "goal" and "goal" in names:
            raise ValueError("only goal questions may mention {goal}")
        scores = [o.score for o in self.options]
        if scores != sorted(scores):
            raise ValueError("options must go from the best answer (lowest score) to the worst")
        return self

    def render(self, name: str, goal: str | None = None) -> str:
        return self.text.format(name=name, goal=goal or "")


class QuestionBank(Strict):
    version: int = Field(ge=1)
    questions: list[Question] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> QuestionBank:
        keys = [q.key for q in self.questions]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate question keys: {dupes}")
        for kind in ("screener", "goal", "family_voice"):
            n = sum(q.kind == kind for q in self.questions)
            if n != 1:
                raise ValueError(f"the bank needs exactly one {kind} question (has {n})")
        return self

    def get(self, key: str) -> Question:
        for q in self.questions:
            if q.key == key:
                return q
        raise KeyError(key)

    def of_kind(self, kind: str) -> list[Question]:
        return [q for q in self.questions if q.kind == kind]

    @property
    def screener(self) -> Question:
        return self.of_kind("screener")[0]

    @property
    def goal_question(self) -> Question:
        return self.of_kind("goal")[0]

    @property
    def family_voice(self) -> Question:
        return self.of_kind("family_voice")[0]


def parse_bank(text: str) -> QuestionBank:
    """Validate YAML text as a bank; raises pydantic.ValidationError or yaml.YAMLError."""
    return QuestionBank.model_validate(yaml.safe_load(text))


@functools.cache
def load_bank(path: str | None = None) -> QuestionBank:
    return parse_bank(Path(path or BANK_FILE).read_text(encoding="utf-8"))
