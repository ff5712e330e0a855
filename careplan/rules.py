"""The care plan and a visit's tasks: pure rules over pydantic models (docs/visit-record.md).

- A care plan holds the person's **outcomes** (each optionally tied to one of their
  goals) and **tasks** by **visit type**. Visit types are named times of day: the four
  usual ones (``morning``, ``lunch``, ``tea``, ``bed``) or the plan's own (``shopping``,
  ``sit``), each starting at a local time.
- Plans are **versioned**: every change makes a new version (who, when); the current
  version at an instant is the newest created at or before it, so a visit's tasks are
  those of its visit type in the version current at check-in, whatever changes later.
- A task is **done** or **not done with a reason** from a short list. An **essential**
  task not done raises a flag (:func:`task_flag`).
- At check-out the family room gets a **family-safe summary** (:func:`family_summary`):
  only tasks the plan gave a family label are named; never a reason, never a medicine.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.utils.translation import gettext_noop
from pydantic import Field, model_validator

from careplan.common import LOCAL_TZ, FlagOut, Key, LocalTime, Strict, Text, parse_hhmm
from rooms.bounds import Id

# The short list a care worker picks from with one tap (UK domiciliary care practice:
# a person may decline; someone else may have done it; it may not be needed today; the
# visit may run out of time; or it may be unsafe / impossible).
NotDoneReason = Literal["declined", "done_by_other", "not_needed", "no_time", "unable"]
NOT_DONE_REASONS: dict[str, str] = {
    "declined": gettext_noop("Declined"),
    "done_by_other": gettext_noop("Done by someone else"),
    "not_needed": gettext_noop("Not needed today"),
    "no_time": gettext_noop("Not enough time"),
    "unable": gettext_noop("Unable (unsafe or no equipment)"),
}
# An essential task not done is always flagged; how urgently depends on why. Declining is
# the person's right but a pattern matters; "no time" is the provider's failure; "unable"
# can mean risk to the person.
ESSENTIAL_NOT_DONE_SEVERITY: dict[str, str] = {
    "declined": "medium",
    "done_by_other": "low",
    "not_needed": "low",
    "no_time": "medium",
    "unable": "high",
}

MAX_TASKS_PER_VISIT_TYPE = 10  # the card must fit one phone screen with the questions
DEFAULT_VISIT_TYPES = (("morning", "05:00"), ("lunch", "11:00"), ("tea", "15:00"), ("bed", "18:30"))


class VisitTypeSpec(Strict):
    name: Key
    starts: LocalTime
    label: Text = Field("", max_length=40)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").replace("-", " ").capitalize()


class OutcomeSpec(Strict):
    """What the care is for, in the person's words, optionally tied to a goal."""

    key: Key
    text: Text = Field(min_length=1, max_length=300)
    goal_id: Id | None = None


class TaskSpec(Strict):
    key: Key
    label: Text = Field(min_length=1, max_length=120)
    visit_type: Key
    essential: bool = False
    # How the family summary names it ("breakfast"); empty: never named to the family.
    family_label: Text = Field("", max_length=40)
    outcome: Key | None = None
    # Instructions for the care worker (the team sees them; never the family).
    details: Text = Field("", max_length=500)


def default_visit_types() -> list[VisitTypeSpec]:
    return [VisitTypeSpec(name=n, starts=s) for n, s in DEFAULT_VISIT_TYPES]


class PlanSpec(Strict):
    """One version's content. Validation keeps it coherent: unique keys, tasks refer to
    declared visit types and outcomes, at most ``MAX_TASKS_PER_VISIT_TYPE`` per type."""

    visit_types: list[VisitTypeSpec] = Field(
        default_factory=default_visit_types, min_length=1, max_length=12
    )
    outcomes: list[OutcomeSpec] = Field(default_factory=list, max_length=30)
    tasks: list[TaskSpec] = Field(default_factory=list, max_length=120)

    @model_validator(mode="after")
    def _coherent(self) -> PlanSpec:
        names = [v.name for v in self.visit_types]
        if len(set(names)) != len(names):
            raise ValueError("visit type names must be unique")
        starts = [v.starts for v in self.visit_types]
        if len(set(starts)) != len(starts):
            raise ValueError("two visit types cannot start at the same time")
        keys = [o.key for o in self.outcomes]
        if len(set(keys)) != len(keys):
            raise ValueError("outcome keys must be unique")
        task_keys = [t.key for t in self.tasks]
        if len(set(task_keys)) != len(task_keys):
            raise ValueError("task keys must be unique")
        for t in self.tasks:
            if t.visit_type not in names:
                raise ValueError(f"task {t.key}: unknown visit type {t.visit_type}")
            if t.outcome is not None and t.outcome not in keys:
                raise ValueError(f"task {t.key}: unknown outcome {t.outcome}")
        for name in names:
            n = sum(1 for t in self.tasks if t.visit_type == name)
            if n > MAX_TASKS_PER_VISIT_TYPE:
                raise ValueError(
                    f"visit type {name}: {n} tasks (at most "
                    f"{MAX_TASKS_PER_VISIT_TYPE} fit one screen)"
                )
        return self


class PlanVersion(Strict):
    number: int = Field(ge=1)
    created_at: dt.datetime
    created_by: int | None = None
    plan: PlanSpec


def current_version(versions: list[PlanVersion], at: dt.datetime) -> PlanVersion | None:
    """The version in force at ``at``: the newest created at or before it."""
    live = [v for v in versions if v.created_at <= at]
    return max(live, key=lambda v: (v.created_at, v.number)) if live else None


def visit_type_at(plan: PlanSpec, at: dt.datetime) -> VisitTypeSpec:
    """The visit type of a visit starting at ``at`` (its planned start, else check-in).

    The type whose start is the latest at or before the local time of day; before the
    first start of the day it is the last type (a 02:00 call belongs to "bed").
    """
    tod = at.astimezone(LOCAL_TZ).time()
    ordered = sorted(plan.visit_types, key=lambda v: v.starts)
    chosen = ordered[-1]
    for v in ordered:
        if parse_hhmm(v.starts) <= tod:
            chosen = v
    return chosen


def tasks_for(plan: PlanSpec, visit_type: str) -> list[TaskSpec]:
    return [t for t in plan.tasks if t.visit_type == visit_type]


class TaskOutcome(Strict):
    """One tick: done, or not done with a reason from the short list."""

    done: bool
    reason: NotDoneReason | None = None

    @model_validator(mode="after")
    def _reason_iff_not_done(self) -> TaskOutcome:
        if self.done and self.reason is not None:
            raise ValueError("a done task has no reason")
        if not self.done and self.reason is None:
            raise ValueError("say why the task was not done")
        return self


def task_flag(
    task: TaskSpec, outcome: TaskOutcome, *, visit_id: int, visit_title: str
) -> FlagOut | None:
    """The flag for an essential task not done; None for anything else.

    ``ref`` is ``visit:<id>:task:<key>``: one flag per task per visit.
    """
    if outcome.done or not task.essential:
        return None
    reason = outcome.reason or "unable"
    return FlagOut(
        concern="care_task",
        severity=ESSENTIAL_NOT_DONE_SEVERITY[reason],
        source="careplan.task",
        ref=f"visit:{visit_id}:task:{task.key}",
        reason=f"{visit_title} visit: essential task not done — {task.label[:120]} "
        f"({NOT_DONE_REASONS[reason].lower()})",
    )


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def family_summary(
    visit_title: str, tasks: list[TaskSpec], outcomes: dict[str, TaskOutcome]
) -> str | None:
    """The family-safe line posted at check-out, e.g. "Morning visit: breakfast and
    personal care done." None when the visit type has no tasks.

    Safe by construction: only ``family_label`` texts are named (tasks without one are
    counted, never named), not-done tasks are named without their reason, and the
    summary never mentions medicines (they are not tasks; a "medicines" task needs a
    family label to be named, and names no medicine). Unrecorded tasks are not mentioned.
    """
    if not tasks:
        return None
    done: list[str] = []
    not_done: list[str] = []
    other_done = 0
    for t in tasks:
        o = outcomes.get(t.key)
        if o is None:
            continue
        if o.done:
            if t.family_label:
                done.append(t.family_label)
            else:
                other_done += 1
        elif t.family_label:
            not_done.append(t.family_label)
    if other_done:
        done.append(
            "care tasks" if not done else f"{other_done} other task{'s' if other_done > 1 else ''}"
        )
    parts = []
    if done:
        parts.append(f"{_join(done)} done")
    if not_done:
        parts.append(f"{_join(not_done)} not done today")
    if not parts:
        return f"{visit_title} visit."
    return f"{visit_title} visit: {'; '.join(parts)}."
