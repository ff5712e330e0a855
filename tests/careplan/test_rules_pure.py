"""The care plan and task rules, without a database."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from careplan.rules import (
    PlanSpec,
    PlanVersion,
    TaskOutcome,
    TaskSpec,
    current_version,
    family_summary,
    task_flag,
    tasks_for,
    visit_type_at,
)

UTC = dt.UTC


def plan(**kw) -> PlanSpec:
    data = {
        "outcomes": [{"key": "independence", "text": "Stay in my own home", "goal_id": 7}],
        "tasks": [
            {
                "key": "personal-care",
                "label": "Wash and dress, check skin on heels",
                "visit_type": "morning",
                "essential": True,
                "family_label": "personal care",
                "outcome": "independence",
            },
            {
                "key": "breakfast",
                "label": "Breakfast: porridge, tea one sugar",
                "visit_type": "morning",
                "family_label": "breakfast",
            },
            {
                "key": "catheter",
                "label": "Empty catheter bag, record output",
                "visit_type": "morning",
                "essential": True,
            },
            {"key": "lunch", "label": "Lunch", "visit_type": "lunch", "family_label": "lunch"},
        ],
    }
    data.update(kw)
    return PlanSpec.model_validate(data)


def test_a_visit_gets_the_tasks_of_its_visit_type_by_local_time():
    p = plan()
    # 07:30 BST (06:30 UTC) in summer is a morning visit; 12:15 GMT in winter is lunch.
    assert visit_type_at(p, dt.datetime(2026, 6, 1, 6, 30, tzinfo=UTC)).name == "morning"
    assert visit_type_at(p, dt.datetime(2026, 1, 5, 12, 15, tzinfo=UTC)).name == "lunch"
    assert visit_type_at(p, dt.datetime(2026, 1, 5, 19, 0, tzinfo=UTC)).name == "bed"
    # A 02:00 call belongs to the last visit type of the day.
    assert visit_type_at(p, dt.datetime(2026, 1, 5, 2, 0, tzinfo=UTC)).name == "bed"
    assert [t.key for t in tasks_for(p, "morning")] == ["personal-care", "breakfast", "catheter"]


def test_a_plan_may_define_its_own_visit_types():
    p = plan(
        visit_types=[
            {"name": "morning", "starts": "06:00"},
            {"name": "shopping", "starts": "10:00", "label": "Shopping trip"},
        ],
        tasks=[{"key": "shop", "label": "Weekly shop", "visit_type": "shopping"}],
    )
    vt = visit_type_at(p, dt.datetime(2026, 1, 5, 10, 30, tzinfo=UTC))
    assert (vt.name, vt.title) == ("shopping", "Shopping trip")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"tasks": [{"key": "x", "label": "X", "visit_type": "brunch"}]}, "unknown visit type"),
        (
            {"tasks": [{"key": "x", "label": "X", "visit_type": "lunch", "outcome": "nope"}]},
            "unknown outcome",
        ),
        ({"tasks": [{"key": "x", "label": "X", "visit_type": "lunch"}] * 2}, "unique"),
        (
            {"tasks": [{"key": f"t{i}", "label": "X", "visit_type": "lunch"} for i in range(11)]},
            "one screen",
        ),
        (
            {
                "visit_types": [{"name": "a", "starts": "08:00"}, {"name": "b", "starts": "08:00"}],
                "tasks": [],
            },
            "same time",
        ),
        ({"tasks": [{"key": "Bad Key", "label": "X", "visit_type": "lunch"}]}, "pattern"),
        (
            {"tasks": [{"key": "x", "label": "X", "visit_type": "lunch", "colour": "red"}]},
            "Extra inputs",
        ),
        ({"visit_types": [{"name": "a", "starts": "25:00"}], "tasks": []}, "pattern"),
    ],
)
def test_an_incoherent_plan_is_refused_with_the_reason(change, error):
    with pytest.raises(ValidationError, match=error):
        plan(**change)


def test_the_tasks_of_a_visit_come_from_the_version_current_at_check_in():
    t0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    v1 = PlanVersion(number=1, created_at=t0, created_by=1, plan=plan())
    v2 = PlanVersion(
        number=2, created_at=t0 + dt.timedelta(days=2), created_by=1, plan=plan(tasks=[])
    )
    assert current_version([v1, v2], t0 - dt.timedelta(minutes=1)) is None
    assert current_version([v2, v1], t0 + dt.timedelta(days=1)).number == 1
    assert current_version([v1, v2], t0 + dt.timedelta(days=2)).number == 2


def test_a_task_outcome_is_done_or_not_done_with_a_reason_from_the_list():
    assert TaskOutcome(done=True).reason is None
    assert TaskOutcome(done=False, reason="declined").reason == "declined"
    for bad in (
        {"done": False},
        {"done": True, "reason": "declined"},
        {"done": False, "reason": "felt like it"},
    ):
        with pytest.raises(ValidationError):
            TaskOutcome.model_validate(bad)


def test_an_essential_task_not_done_raises_a_flag_and_nothing_else_does():
    p = plan()
    personal, breakfast, _, _ = p.tasks
    f = task_flag(
        personal, TaskOutcome(done=False, reason="unable"), visit_id=42, visit_title="Morning"
    )
    assert (f.concern, f.severity, f.source, f.ref) == (
        "care_task",
        "high",
        "careplan.task",
        "visit:42:task:personal-care",
    )
    assert f.payload()["signal"] == "flag"
    no_time = task_flag(
        personal, TaskOutcome(done=False, reason="no_time"), visit_id=42, visit_title="Morning"
    )
    assert no_time.severity == "medium"
    assert task_flag(personal, TaskOutcome(done=True), visit_id=42, visit_title="M") is None
    assert (
        task_flag(
            breakfast,
            TaskOutcome(done=False, reason="declined"),
            visit_id=42,
            visit_title="Morning",
        )
        is None
    )


def test_family_summary_names_only_family_labels_and_never_reasons():
    p = plan()
    morning = tasks_for(p, "morning")
    all_done = {t.key: TaskOutcome(done=True) for t in morning}
    # The catheter task has no family label: counted, never named.
    assert family_summary("Morning", morning, all_done) == (
        "Morning visit: personal care, breakfast and 1 other task done."
    )
    some = {"personal-care": TaskOutcome(done=True), "breakfast": TaskOutcome(done=True)}
    assert family_summary("Morning", morning, some) == (
        "Morning visit: personal care and breakfast done."
    )
    refused = {
        "personal-care": TaskOutcome(done=False, reason="declined"),
        "breakfast": TaskOutcome(done=True),
        "catheter": TaskOutcome(done=False, reason="unable"),
    }
    text = family_summary("Morning", morning, refused)
    assert text == "Morning visit: breakfast done; personal care not done today."
    for secret in ("declined", "unable", "catheter", "Catheter", "skin", "heels"):
        assert secret not in text
    unnamed = [TaskSpec(key="a", label="Apply cream to legs", visit_type="tea")]
    assert family_summary("Tea", unnamed, {"a": TaskOutcome(done=True)}) == (
        "Tea visit: care tasks done."
    )
    assert family_summary("Tea", [], {}) is None
