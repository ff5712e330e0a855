"""Medicine (eMAR) rules without a database: due doses, PRN limits, flags, the MAR chart."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from careplan.medicines import (
    DoseRecord,
    DoseRecordIn,
    MedicineRef,
    MedicineSpec,
    PrnRule,
    dose_flag,
    doses_due,
    mar_chart,
    prn_allowed,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, GMT
H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)


def med(id_: int = 1, *, since=T0 - dt.timedelta(days=30), until=None, **spec) -> MedicineRef:
    base = {"name": "Paracetamol", "dose": "1 g", "route": "oral", "times": ["08:00", "22:00"]}
    base.update(spec)
    return MedicineRef(
        id=id_, spec=MedicineSpec.model_validate(base), active_from=since, active_until=until
    )


def test_a_medicine_is_scheduled_or_as_needed_never_both_or_neither():
    with pytest.raises(ValidationError, match="either"):
        MedicineSpec(name="X", dose="1", route="oral")
    with pytest.raises(ValidationError, match="either"):
        MedicineSpec(
            name="X",
            dose="1",
            route="oral",
            times=["08:00"],
            prn=PrnRule(max_doses_24h=4, min_interval_minutes=240),
        )
    with pytest.raises(ValidationError):
        MedicineSpec(name="X", dose="1", route="by mouth", times=["08:00"])
    with pytest.raises(ValidationError):
        MedicineSpec(name="X", dose="1", route="oral", times=["8am"])
    assert MedicineSpec(name="X", dose="1", route="oral", times=["22:00", "08:00"]).times == [
        "08:00",
        "22:00",
    ]


def test_doses_due_in_a_visit_window_with_tolerance_in_local_time():
    paracetamol = med(1)
    madopar = med(
        2, name="Co-beneldopa", dose="125 mg", times=["08:30", "12:30"], time_critical=True
    )
    prn = med(
        3,
        name="Oramorph",
        dose="5 ml",
        times=[],
        prn={"max_doses_24h": 4, "min_interval_minutes": 240},
    )
    # Visit 07:10-07:50 GMT: paracetamol 08:00 is within 60 min; the time-critical 08:30
    # dose is 40 min after the visit, outside its 30-minute tolerance.
    due = doses_due([paracetamol, madopar, prn], T0 + 7 * H + 10 * MIN, T0 + 7 * H + 50 * MIN)
    assert [(d.medicine_id, d.time) for d in due] == [(1, "08:00")]
    due = doses_due([paracetamol, madopar, prn], T0 + 7 * H + 45 * MIN, T0 + 8 * H + 15 * MIN)
    assert [(d.medicine_id, d.time, d.time_critical) for d in due] == [
        (1, "08:00", False),
        (2, "08:30", True),
    ]
    # In summer "08:00" is 07:00 UTC.
    summer = dt.datetime(2026, 6, 1, 6, 45, tzinfo=UTC)
    [d] = doses_due([paracetamol], summer, summer + 30 * MIN)
    assert d.scheduled_for == dt.datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def test_a_stopped_medicine_is_not_due():
    stopped = med(1, until=T0 + 7 * H)
    assert doses_due([stopped], T0 + 7 * H + 30 * MIN, T0 + 8 * H) == []


def test_dose_outcomes_need_the_right_reasons():
    assert DoseRecordIn(outcome="given").reason is None
    assert DoseRecordIn(outcome="refused").outcome == "refused"
    for bad in (
        {"outcome": "not_given"},
        {"outcome": "missed"},
        {"outcome": "given", "reason": "asleep"},
        {"outcome": "not_given", "reason": "other"},
        {"outcome": "lost"},
        {"outcome": "given", "extra": 1},
    ):
        with pytest.raises(ValidationError):
            DoseRecordIn.model_validate(bad)


def test_time_critical_refused_or_missed_is_high_withheld_is_not_flagged():
    critical = med(2, name="Co-beneldopa", times=["08:30"], time_critical=True)
    refused = dose_flag(critical, DoseRecordIn(outcome="refused"), ref="med:2:x", time="08:30")
    assert (refused.concern, refused.severity, refused.source) == (
        "medication",
        "high",
        "careplan.medicine",
    )
    assert "Co-beneldopa" not in refused.reason and "08:30" in refused.reason
    missed = dose_flag(
        critical, DoseRecordIn(outcome="missed", reason="late_visit"), ref="r", time="08:30"
    )
    assert missed.severity == "high"
    assert (
        dose_flag(
            critical, DoseRecordIn(outcome="not_given", reason="no_stock"), ref="r", time="08:30"
        ).severity
        == "medium"
    )
    assert (
        dose_flag(
            critical, DoseRecordIn(outcome="not_given", reason="withheld"), ref="r", time="08:30"
        )
        is None
    )
    assert dose_flag(critical, DoseRecordIn(outcome="given"), ref="r", time="08:30") is None
    assert dose_flag(med(1), DoseRecordIn(outcome="refused"), ref="r", time="08:00") is None


# ---- PRN --------------------------------------------------------------------------------


def test_prn_examples():
    rule = PrnRule(max_doses_24h=2, min_interval_minutes=240)
    assert prn_allowed(rule, [], T0).allowed
    d = prn_allowed(rule, [T0], T0 + 3 * H)
    assert not d.allowed and "240 minutes" in d.reason and d.next_allowed_at == T0 + 4 * H
    assert prn_allowed(rule, [T0], T0 + 4 * H).allowed
    d = prn_allowed(rule, [T0, T0 + 4 * H], T0 + 10 * H)
    assert not d.allowed and "2 doses in 24 hours" in d.reason
    assert d.next_allowed_at == T0 + 24 * H
    assert prn_allowed(rule, [T0, T0 + 4 * H], T0 + 24 * H).allowed
    # A back-dated dose is checked against the doses after it too.
    d = prn_allowed(rule, [T0 + 10 * H], T0 + 8 * H)
    assert not d.allowed and d.next_allowed_at is None


def _violations(rule: PrnRule, times: list[dt.datetime]) -> bool:
    ts = sorted(times)
    n = rule.max_doses_24h
    if any(b - a < rule.min_interval for a, b in zip(ts, ts[1:], strict=False)):
        return True
    # Brute force over every window starting at a dose: at most n doses in [t, t + 24 h).
    return any(sum(1 for u in ts if t <= u < t + 24 * H) > n for t in ts)


rules_st = st.builds(
    PrnRule, max_doses_24h=st.integers(1, 8), min_interval_minutes=st.integers(0, 600)
)
minutes_st = st.lists(st.integers(0, 4 * 24 * 60), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(rule=rules_st, attempts=minutes_st)
def test_prn_never_exceeds_its_maximum_in_any_24h_nor_the_minimum_interval(rule, attempts):
    """Whatever order doses are asked for (back-dated ones included), the doses allowed
    never break the rule; and the answer is exactly the rule (allowed iff no violation)."""
    given_doses: list[dt.datetime] = []
    for m in attempts:
        at = T0 + m * MIN
        decision = prn_allowed(rule, given_doses, at)
        assert decision.allowed == (not _violations(rule, [*given_doses, at]))
        if decision.allowed:
            given_doses.append(at)
        elif decision.next_allowed_at is not None:
            # The promised next time really is allowed against the doses up to ``at``.
            earlier = [t for t in given_doses if t <= at]
            assert decision.next_allowed_at > at
            assert prn_allowed(rule, earlier, decision.next_allowed_at).allowed
    assert not _violations(rule, given_doses)


# ---- MAR chart ---------------------------------------------------------------------------


def test_mar_chart_rows_are_medicine_by_time_with_a_code_per_day():
    para = med(1, since=dt.datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    prn = med(
        3,
        name="Oramorph",
        dose="5 ml",
        times=[],
        prn={"max_doses_24h": 4, "min_interval_minutes": 240},
    )
    day = dt.timedelta(days=1)
    records = [
        DoseRecord(
            medicine_id=1,
            scheduled_for=T0 + 2 * day + 22 * H,
            outcome="given",
            at=T0 + 2 * day + 22 * H,
        ),
        DoseRecord(
            medicine_id=1,
            scheduled_for=T0 + 3 * day + 8 * H,
            outcome="refused",
            at=T0 + 3 * day + 8 * H,
        ),
        DoseRecord(
            medicine_id=1,
            scheduled_for=T0 + 3 * day + 22 * H,
            outcome="missed",
            at=T0 + 3 * day + 23 * H,
        ),
        DoseRecord(medicine_id=3, scheduled_for=None, outcome="given", at=T0 + 10 * H),
        DoseRecord(medicine_id=3, scheduled_for=None, outcome="given", at=T0 + 15 * H),
        DoseRecord(medicine_id=3, scheduled_for=None, outcome="refused", at=T0 + day + 9 * H),
    ]
    chart = mar_chart([prn, para], records, 2026, 3)
    assert chart.days == 31
    rows = {(r.name, r.time): r.cells for r in chart.rows}
    assert list(rows) == [("Oramorph", "PRN"), ("Paracetamol", "08:00"), ("Paracetamol", "22:00")]
    # 2 March is day index 1. Paracetamol started 3 March 12:00: the 08:00 dose that day
    # was not yet prescribed, the 22:00 one was.
    assert rows[("Paracetamol", "08:00")][:6] == ["-", "-", "-", "", "R", ""]
    assert rows[("Paracetamol", "22:00")][:6] == ["-", "-", "", "G", "M", ""]
    assert rows[("Oramorph", "PRN")][1:4] == ["2", "R", ""]


def test_a_managers_correction_is_marked_on_the_chart():
    para = med(1)
    prn = med(
        3,
        name="Oramorph",
        dose="5 ml",
        times=[],
        prn={"max_doses_24h": 4, "min_interval_minutes": 240},
    )
    records = [  # current records only: the corrected ones carry ``corrected``
        DoseRecord(medicine_id=1, scheduled_for=T0 + 8 * H, outcome="given", at=T0 + 8 * H),
        DoseRecord(
            medicine_id=1,
            scheduled_for=T0 + 22 * H,
            outcome="not_given",
            at=T0 + 22 * H,
            corrected=True,
        ),
        DoseRecord(medicine_id=3, scheduled_for=None, outcome="given", at=T0 + 10 * H),
        DoseRecord(
            medicine_id=3, scheduled_for=None, outcome="given", at=T0 + 15 * H, corrected=True
        ),
    ]
    rows = {(r.name, r.time): r.cells for r in mar_chart([para, prn], records, 2026, 3).rows}
    day = T0.day - 1
    assert rows[("Paracetamol", "08:00")][day] == "G"
    assert rows[("Paracetamol", "22:00")][day] == "N*"
    assert rows[("Oramorph", "PRN")][day] == "2*"
    assert "*" in mar_chart([para], records, 2026, 3).legend
