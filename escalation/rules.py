"""Detection rules over message text: validated data plus one pure function, :func:`detect`.

The rules live in ``escalation/rules/concerns.yaml`` (format: docs/escalation.md). They are
loaded once, validated by :class:`RuleSet` (undeclared fields rejected, every regular
expression compiled at load time), and never touched by the database.

Negation: a hit is dropped when a negation cue ("no", "denies", "hasn't" ...) appears
within ``negation.window`` words before it in the same clause, or a post-cue ("ruled out")
right after it. Clauses end at ``. ! ? ; ,`` and at "but". Exclusions ("fell asleep",
"falls clinic") remove hits that overlap them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field, field_validator, model_validator

from escalation.schemas import Concern, Severity, Strict

RULES_FILE = Path(__file__).resolve().parent / "rules" / "concerns.yaml"

_CLAUSE_END = re.compile(r"[.!?;,\n]|\bbut\b|\bhowever\b|\bthough\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid pattern {pattern!r}: {exc}") from None


class Negation(Strict):
    window: int = Field(4, ge=1, le=10)
    before: list[str] = Field(min_length=1)
    after: list[str] = Field(default_factory=list)


class Rule(Strict):
    id: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    severity: Severity
    patterns: list[str] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, v: list[str]) -> list[str]:
        for p in v:
            _compile(p)
        return v


class ConcernRules(Strict):
    rules: list[Rule] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("exclude")
    @classmethod
    def _exclude_compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            _compile(p)
        return v


class RuleSet(Strict):
    version: int = Field(ge=1)
    negation: Negation
    concerns: dict[Concern, ConcernRules]

    @model_validator(mode="after")
    def _ids_unique_and_prefixed(self) -> RuleSet:
        seen: set[str] = set()
        for concern, cr in self.concerns.items():
            for r in cr.rules:
                if not r.id.startswith(concern + "."):
                    raise ValueError(f"rule {r.id} must start with '{concern}.'")
                if r.id in seen:
                    raise ValueError(f"duplicate rule id {r.id}")
                seen.add(r.id)
        return self


@dataclass(frozen=True)
class Hit:
    concern: str
    rule: str
    severity: str
    start: int
    end: int


@dataclass(frozen=True)
class _Compiled:
    ruleset: RuleSet
    rules: tuple[tuple[Concern, Rule, tuple[re.Pattern[str], ...]], ...]
    excludes: dict[Concern, tuple[re.Pattern[str], ...]]
    before: frozenset[str]
    after: tuple[str, ...]


def parse_rules(data: object) -> RuleSet:
    """Validate rules data (already parsed from YAML/JSON); raises pydantic.ValidationError."""
    return RuleSet.model_validate(data)


def load_rules(path: Path = RULES_FILE) -> RuleSet:
    return parse_rules(yaml.safe_load(path.read_text(encoding="utf-8")))


_COMPILED: dict[int, _Compiled] = {}


def _compiled(ruleset: RuleSet) -> _Compiled:
    """Compiled patterns, cached per rule-set object (rule sets are frozen)."""
    hit = _COMPILED.get(id(ruleset))
    if hit is not None and hit.ruleset is ruleset:
        return hit
    if len(_COMPILED) > 16:
        _COMPILED.clear()
    _COMPILED[id(ruleset)] = made = _compile_ruleset(ruleset)
    return made


def _compile_ruleset(ruleset: RuleSet) -> _Compiled:
    rules = tuple(
        (concern, r, tuple(_compile(p) for p in r.patterns))
        for concern, cr in ruleset.concerns.items()
        for r in cr.rules
    )
    excludes = {c: tuple(_compile(p) for p in cr.exclude) for c, cr in ruleset.concerns.items()}
    return _Compiled(
        ruleset,
        rules,
        excludes,
        frozenset(w.lower() for w in ruleset.negation.before),
        tuple(w.lower() for w in ruleset.negation.after),
    )


@functools.cache
def default_rules() -> RuleSet:
    return load_rules()


def normalise(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    lo = 0
    for m in _CLAUSE_END.finditer(text, 0, start):
        lo = m.end()
    after = _CLAUSE_END.search(text, end)
    hi = after.start() if after else len(text)
    return lo, hi


def _negated(c: _Compiled, text: str, start: int, end: int) -> bool:
    lo, hi = _clause_bounds(text, start, end)
    words = _WORD.findall(text[lo:start].lower())[-c.ruleset.negation.window :]
    if any(w in c.before for w in words):
        return True
    tail = " ".join(_WORD.findall(text[end:hi].lower())[:4])
    return any(tail.startswith(cue) for cue in c.after)


def detect(text: str, ruleset: RuleSet | None = None) -> list[Hit]:
    """Every rule that fires on ``text`` (at most one hit per rule), in rule order.

    Pure: no database, no clock. Empty for text with only negated mentions.
    """
    c = _compiled(ruleset or default_rules())
    text = normalise(text)
    hits: list[Hit] = []
    for concern, rule, patterns in c.rules:
        excluded = [(m.start(), m.end()) for x in c.excludes[concern] for m in x.finditer(text)]
        found = None
        for pat in patterns:
            for m in pat.finditer(text):
                if any(m.start() < e and s < m.end() for s, e in excluded):
                    continue
                if _negated(c, text, m.start(), m.end()):
                    continue
                found = m
                break
            if found:
                break
        if found:
            hits.append(Hit(concern, rule.id, rule.severity, found.start(), found.end()))
    return hits
