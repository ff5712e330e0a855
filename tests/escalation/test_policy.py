"""The pure step engine: every step type, quiet hours and the rota, council at once."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from escalation.policy import (
    COUNCIL_AT_ONCE,
    AlertState,
    Directory,
    Shift,
    apply_plan,
    default_policy,
    next_action,
    parse_policy,
)

T = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # 10:00 in London (GMT)
NIGHT = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)

DIR = Directory(assigned_managers=[5], provider_managers=[5, 6, 7], council_contacts=[9])

POLICY = parse_policy(
    {
        "steps": [
            {"type": "notify_role", "role": "care_manager"},
            {"type": "wait", "minutes": 15},
            {"type": "repeat", "back_to": 0, "times": 1},
            {"type": "notify_deputies"},
            {"type": "wait", "minutes": 30},
            {"type": "notify_council"},
        ],
        "council_at_once_for": ["safeguarding"],
        "quiet_hours": {"start": "20:00", "end": "08:00", "timezone": "Europe/London"},
    }
)


def state(**kw) -> AlertState:
    base = {"state": "open", "severity": "high", "step_index": 0, "next_step_at": T}
    return AlertState(**(base | kw))


def run_until_idle(s: AlertState, policy, now, d=DIR):
    plans = []
    while (p := next_action(s, policy, now, d)) is not None:
        plans.append(p)
        s = apply_plan(s, p)
        assert len(plans) < 100
    return s, plans


def test_notify_role_goes_to_the_assigned_care_managers_then_wait_schedules_the_next():
    s, plans = run_until_idle(state(), POLICY, T)
    assert [(p.step_type, p.recipients) for p in plans] == [("notify_role", [5]), ("wait", [])]
    assert plans[0].audience == "managers"
    assert s.step_index == 2
    assert s.next_step_at == T + 15 * MIN


def test_nothing_runs_before_it_is_due():
    s, _ = run_until_idle(state(), POLICY, T)
    assert next_action(s, POLICY, T + 15 * MIN - dt.timedelta(seconds=1), DIR) is None


def test_repeat_goes_back_then_carries_on_to_deputies_and_council():
    s, _ = run_until_idle(state(), POLICY, T)
    s, plans = run_until_idle(s, POLICY, T + 15 * MIN)
    assert [p.step_type for p in plans] == ["repeat", "notify_role", "wait"]
    assert plans[0].note == "repeat 1 of 1"
    assert plans[0].next_index == 0
    s, plans = run_until_idle(s, POLICY, T + 30 * MIN)
    assert [p.step_type for p in plans] == ["repeat", "notify_deputies", "wait"]
    assert plans[1].recipients == [6, 7]  # no deputy on the rota: the other managers
    s, plans = run_until_idle(s, POLICY, T + 60 * MIN)
    assert [(p.step_type, p.recipients) for p in plans] == [("notify_council", [9])]
    assert s.next_step_at is None
    assert s.council_notified
    assert next_action(s, POLICY, T + 600 * MIN, DIR) is None


def test_a_late_ticker_catches_up_on_the_original_schedule():
    s, plans = run_until_idle(state(), POLICY, T + 200 * MIN)
    due = [(p.step_type, p.due_at - T) for p in plans]
    assert due == [
        ("notify_role", 0 * MIN),
        ("wait", 0 * MIN),
        ("repeat", 15 * MIN),
        ("notify_role", 15 * MIN),
        ("wait", 15 * MIN),
        ("repeat", 30 * MIN),
        ("notify_deputies", 30 * MIN),
        ("wait", 30 * MIN),
        ("notify_council", 60 * MIN),
    ]
    assert s.next_step_at is None


def test_acknowledged_or_resolved_alerts_do_not_escalate():
    for st in ("acknowledged", "resolved"):
        assert next_action(state(state=st), POLICY, T + 600 * MIN, DIR) is None


def test_deputies_on_the_rota_are_preferred():
    d = DIR.model_copy(
        update={
            "rota": [
                Shift(person=7, role="deputy", starts_at=T - 60 * MIN, ends_at=T + 600 * MIN),
                Shift(person=8, role="deputy", starts_at=T + 600 * MIN, ends_at=T + 900 * MIN),
            ]
        }
    )
    s = state(step_index=3)
    p = next_action(s, POLICY, T, d)
    assert (p.step_type, p.audience, p.recipients) == ("notify_deputies", "deputies", [7])


def test_quiet_hours_send_notify_role_to_the_on_call_manager():
    d = DIR.model_copy(
        update={
            "rota": [
                Shift(
                    person=6, role="primary", starts_at=NIGHT - 60 * MIN, ends_at=NIGHT + 600 * MIN
                ),
            ]
        }
    )
    p = next_action(state(next_step_at=NIGHT), POLICY, NIGHT, d)
    assert (p.audience, p.recipients) == ("on_call", [6])
    # Daytime: the assigned manager, whoever is on call.
    p = next_action(state(), POLICY, T, d)
    assert (p.audience, p.recipients) == ("managers", [5])


def test_quiet_hours_without_anyone_on_call_fall_back_to_the_assigned_managers():
    p = next_action(state(next_step_at=NIGHT), POLICY, NIGHT, DIR)
    assert (p.audience, p.recipients) == ("managers", [5])
    assert "nobody on call" in p.note


@pytest.mark.parametrize(
    ("hhmm", "quiet"),
    [
        ("19:59", False),
        ("20:00", True),
        ("23:59", True),
        ("00:00", True),
        ("07:59", True),
        ("08:00", False),
        ("12:00", False),
    ],
)
def test_quiet_hours_window_runs_over_midnight_in_local_time(hhmm, quiet):
    h, m = map(int, hhmm.split(":"))
    # 1 July: London is on BST (UTC+1), so local 20:00 is 19:00 UTC.
    local = dt.datetime(2026, 7, 1, h, m, tzinfo=dt.UTC) - dt.timedelta(hours=1)
    assert POLICY.quiet_hours.contains(local) is quiet


def test_safeguarding_goes_to_the_council_at_once_and_only_once():
    s = state(severity="safeguarding")
    s, plans = run_until_idle(s, POLICY, T)
    assert [(p.index, p.step_type, p.recipients) for p in plans[:2]] == [
        (COUNCIL_AT_ONCE, "notify_council", [9]),
        (0, "notify_role", [5]),
    ]
    s, plans = run_until_idle(s, POLICY, T + 600 * MIN)
    council = [p for p in plans if p.step_type == "notify_council"]
    assert len(council) == 1
    assert council[0].recipients == []
    assert council[0].audience == "none"
    assert council[0].note == "council already notified"


def test_severity_raised_on_an_acknowledged_alert_still_reaches_the_council():
    s = state(state="acknowledged", severity="safeguarding", next_step_at=None)
    p = next_action(s, POLICY, T, DIR)
    assert p.index == COUNCIL_AT_ONCE
    assert p.recipients == [9]
    assert next_action(apply_plan(s, p), POLICY, T, DIR) is None


def test_default_policy_is_valid_and_starts_with_the_care_managers():
    pol = default_policy()
    assert pol.steps[0].type == "notify_role"
    assert "safeguarding" in pol.council_at_once_for


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": []}, "at least 1"),
        ({"steps": [{"type": "notify_role"}], "surprise": 1}, "surprise"),
        ({"steps": [{"type": "wait", "minutes": 0}]}, "greater than or equal"),
        ({"steps": [{"type": "wait", "minutes": 5, "seconds": 3}]}, "seconds"),
        ({"steps": [{"type": "repeat", "back_to": 0, "times": 1}]}, "earlier step"),
        ({"steps": [{"type": "page_the_king"}]}, "page_the_king"),
        (
            {
                "steps": [{"type": "notify_role"}],
                "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"},
            },
            "time zone",
        ),
    ],
)
def test_invalid_policies_are_refused_with_a_clear_error(data, message):
    with pytest.raises(ValidationError) as exc:
        parse_policy(data)
    assert message in str(exc.value)
