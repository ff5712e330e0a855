"""Medicines (eMAR): pure rules over pydantic models (docs/visit-record.md "Medicines").

- A medicine is **scheduled** (local times of day, "08:00") or **as needed** (PRN) with a
  maximum number of doses in any 24 hours and a minimum interval between doses. A
  ``time_critical`` medicine (Parkinson's, insulin, some antibiotics) must be given close
  to its time.
- :func:`doses_due` lists the scheduled doses that fall in a visit (with a tolerance).
- A dose is recorded **given**, **refused**, **not given** (with a reason) or **missed**
  (with a reason); an as-needed dose given records why it was needed.
- :func:`prn_allowed` decides whether an as-needed dose may be given now: never more than
  the maximum in *any* 24-hour period, never closer than the minimum interval to another
  dose — also against doses recorded later in time (a back-dated entry).
- :func:`dose_flag`: a time-critical dose refused or missed raises a **high** flag; not
  given for any reason but "withheld on clinical advice" a **medium** one.
- :func:`mar_chart`: the month's MAR chart — rows medicine × scheduled time (one row per
  as-needed medicine), a code per day.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.utils.translation import gettext, gettext_noop, ngettext
from pydantic import Field, field_validator, model_validator

from careplan.common import (
    FlagOut,
    LocalTime,
    Strict,
    Text,
    at_local,
    local_date,
    local_hhmm,
    parse_hhmm,
)

Route = Literal[
    "oral",
    "topical",
    "inhaled",
    "transdermal",
    "eye",
    "ear",
    "nasal",
    "subcutaneous",
    "rectal",
    "other",
]
DoseOutcome = Literal["given", "refused", "not_given", "missed"]
DoseReason = Literal[
    "asleep", "away", "unwell", "no_stock", "withheld", "swallowing", "late_visit", "other"
]
DOSE_REASONS: dict[str, str] = {
    "asleep": gettext_noop("Asleep"),
    "away": gettext_noop("Not at home / in hospital"),
    "unwell": gettext_noop("Unwell / vomiting"),
    "no_stock": gettext_noop("None in stock"),
    "withheld": gettext_noop("Withheld on clinical advice"),
    "swallowing": gettext_noop("Could not swallow"),
    "late_visit": gettext_noop("Visit too late for the dose"),
    "other": gettext_noop("Other (see note)"),
}
# MAR chart codes (the legend is printed with the chart).
CODES: dict[str, str] = {"given": "G", "refused": "R", "not_given": "N", "missed": "M"}
NOT_ACTIVE = "-"  # the medicine was not prescribed on that day
CORRECTED = "*"  # appended to a cell whose record a care manager corrected

TOLERANCE = dt.timedelta(minutes=60)
TIME_CRITICAL_TOLERANCE = dt.timedelta(minutes=30)
DAY = dt.timedelta(hours=24)


class PrnRule(Strict):
    max_doses_24h: int = Field(ge=1, le=24)
    min_interval_minutes: int = Field(ge=0, le=1440)

    @property
    def min_interval(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.min_interval_minutes)


class MedicineSpec(Strict):
    """What the prescriber's instruction says; editable only by nurses and managers."""

    name: Text = Field(min_length=1, max_length=120)
    dose: Text = Field(min_length=1, max_length=60)
    route: Route
    times: list[LocalTime] = Field(default_factory=list, max_length=12)
    prn: PrnRule | None = None
    time_critical: bool = False
    instructions: Text = Field("", max_length=300)

    @field_validator("times")
    @classmethod
    def _sorted_unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each time once")
        return sorted(v)

    @model_validator(mode="after")
    def _scheduled_or_prn(self) -> MedicineSpec:
        if bool(self.times) == (self.prn is not None):
            raise ValueError("give either times of day or an as-needed rule, not both")
        return self

    @property
    def as_needed(self) -> bool:
        return self.prn is not None


class MedicineRef(Strict):
    """A medicine as the rules see it: its id, its spec and when it was in force."""

    id: int = Field(ge=1)
    spec: MedicineSpec
    active_from: dt.datetime
    active_until: dt.datetime | None = None

    def active_at(self, at: dt.datetime) -> bool:
        return self.active_from <= at and (self.active_until is None or at < self.active_until)

    def active_on(self, day: dt.date) -> bool:
        """Prescribed for at least part of the local day."""
        start = at_local(day, dt.time())
        end = at_local(day + dt.timedelta(days=1), dt.time())
        return self.active_from < end and (self.active_until is None or self.active_until > start)


class DueDose(Strict):
    medicine_id: int
    scheduled_for: dt.datetime
    time: str  # the local HH:MM of the schedule
    time_critical: bool


def tolerance_for(spec: MedicineSpec) -> dt.timedelta:
    return TIME_CRITICAL_TOLERANCE if spec.time_critical else TOLERANCE


def scheduled_between(med: MedicineRef, start: dt.datetime, end: dt.datetime) -> list[DueDose]:
    """Scheduled doses of ``med`` with ``start <= scheduled_for <= end`` while it was active."""
    out = []
    day = local_date(start)
    last = local_date(end)
    while day <= last:
        for hhmm in med.spec.times:
            t = at_local(day, parse_hhmm(hhmm))
            if start <= t <= end and med.active_at(t):
                out.append(
                    DueDose(
                        medicine_id=med.id,
                        scheduled_for=t,
                        time=hhmm,
                        time_critical=med.spec.time_critical,
                    )
                )
        day += dt.timedelta(days=1)
    return out


def doses_due(
    meds: list[MedicineRef], visit_start: dt.datetime, visit_end: dt.datetime
) -> list[DueDose]:
    """Scheduled doses due in a visit: their time within the visit widened by the
    medicine's tolerance (60 min; 30 min for time-critical ones). ``visit_end`` is the
    check-out, or the planned end while the visit is open. Ordered by time."""
    out: list[DueDose] = []
    for m in meds:
        if m.spec.as_needed:
            continue
        tol = tolerance_for(m.spec)
        out.extend(scheduled_between(m, visit_start - tol, visit_end + tol))
    return sorted(out, key=lambda d: (d.scheduled_for, d.medicine_id))


class DoseRecordIn(Strict):
    """One recorded outcome. ``reason`` is required for not given and missed; an
    as-needed dose given needs ``prn_reason`` (why it was needed)."""

    outcome: DoseOutcome
    reason: DoseReason | None = None
    prn_reason: Text = Field("", max_length=200)
    note: Text = Field("", max_length=300)

    @model_validator(mode="after")
    def _reasons(self) -> DoseRecordIn:
        if self.outcome == "given" and self.reason is not None:
            raise ValueError("a given dose has no not-given reason")
        if self.outcome in ("not_given", "missed") and self.reason is None:
            raise ValueError(f"say why the dose was {self.outcome.replace('_', ' ')}")
        if self.reason == "other" and not self.note:
            raise ValueError("a reason of other needs a note")
        return self


class PrnDecision(Strict):
    allowed: bool
    reason: str = ""
    next_allowed_at: dt.datetime | None = None


def prn_allowed(rule: PrnRule, given: list[dt.datetime], at: dt.datetime) -> PrnDecision:
    """May an as-needed dose be given at ``at``, given the doses already given?

    Allowed iff, with the new dose added, no two doses are closer than the minimum
    interval and no ``max + 1`` doses fall within any 24-hour period (i.e. for the sorted
    times, ``t[i + max] - t[i] >= 24 h``). When refused, ``next_allowed_at`` is the
    earliest instant the dose would be allowed — None when a dose is already recorded
    after ``at`` (a back-dated entry).
    """
    times = sorted(given)
    too_close = [t for t in times if abs(at - t) < rule.min_interval]
    combined = sorted([*times, at])
    n = rule.max_doses_24h
    over = any(combined[i + n] - combined[i] < DAY for i in range(len(combined) - n))
    if not too_close and not over:
        return PrnDecision(allowed=True)
    nxt = None
    if all(t <= at for t in times):  # a back-dated entry gets no suggestion
        candidates = [at]
        if times:
            candidates.append(times[-1] + rule.min_interval)
        if len(times) >= n:
            candidates.append(times[-n] + DAY)
        nxt = max(candidates)
    # Shown to the care worker on the card: in the request's language (web.language).
    if too_close:
        why = gettext("At least %(n)s minutes between doses.") % {"n": rule.min_interval_minutes}
    else:
        why = ngettext("At most %(n)s dose in 24 hours.", "At most %(n)s doses in 24 hours.", n) % {
            "n": n
        }
    return PrnDecision(allowed=False, reason=why, next_allowed_at=nxt)


def dose_flag(
    med: MedicineRef, record: DoseRecordIn, *, ref: str, time: str | None
) -> FlagOut | None:
    """The flag for a time-critical dose not given; None otherwise.

    The reason names the dose time, never the medicine (flags reach notices and pushes
    only as generic text, but the reason is shown wherever the alert is).
    """
    if not med.spec.time_critical or record.outcome == "given":
        return None
    if record.outcome == "not_given" and record.reason == "withheld":
        return None
    severity = "medium" if record.outcome == "not_given" else "high"
    what = {"refused": "refused", "missed": "missed", "not_given": "not given"}[record.outcome]
    dose = f"the {time} dose" if time else "an as-needed dose"
    return FlagOut(
        concern="medication",
        severity=severity,
        source="careplan.medicine",
        ref=ref,
        reason=f"Time-critical medicine {what}: {dose} (see the MAR chart).",
    )


# ---- the MAR chart ------------------------------------------------------------------------


class DoseRecord(Strict):
    """A stored outcome as the chart needs it."""

    medicine_id: int
    scheduled_for: dt.datetime | None  # None: an as-needed dose
    outcome: DoseOutcome
    at: dt.datetime  # when given / recorded
    corrected: bool = False  # a care manager's correction superseded an earlier record


class MarRow(Strict):
    medicine_id: int
    name: str
    dose: str
    route: str
    time: str  # "08:00" or "PRN"
    time_critical: bool
    cells: list[str]  # one per day of the month, index 0 = day 1


class MarChart(Strict):
    year: int
    month: int
    days: int
    rows: list[MarRow]
    legend: dict[str, str]


def _days_in(year: int, month: int) -> int:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - dt.date(year, month, 1)).days


def mar_chart(
    meds: list[MedicineRef], records: list[DoseRecord], year: int, month: int
) -> MarChart:
    """The month's chart in local days, from the *current* records (a superseded record
    is not passed). Scheduled rows: the outcome code of that dose, "" when nothing was
    recorded, ``-`` on days the medicine was not prescribed. As-needed rows: the number
    of doses given that day (``R`` if only refusals). A cell whose record is a manager's
    correction ends with ``*``."""
    days = _days_in(year, month)
    by_dose: dict[tuple[int, dt.date, str], str] = {}
    prn_given: dict[tuple[int, dt.date], int] = {}
    prn_refused: set[tuple[int, dt.date]] = set()
    for r in records:
        if r.scheduled_for is not None:
            key = (r.medicine_id, local_date(r.scheduled_for), local_hhmm(r.scheduled_for))
            by_dose[key] = CODES[r.outcome]
        else:
            day = local_date(r.at)
            if r.outcome == "given":
                prn_given[(r.medicine_id, day)] = prn_given.get((r.medicine_id, day), 0) + 1
            else:
                prn_refused.add((r.medicine_id, day))
    corrected_days: set[tuple[int, dt.date]] = set()
    for r in records:
        if r.corrected and r.scheduled_for is not None:
            key = (r.medicine_id, local_date(r.scheduled_for), local_hhmm(r.scheduled_for))
            by_dose[key] += CORRECTED
        elif r.corrected:
            corrected_days.add((r.medicine_id, local_date(r.at)))
    rows: list[MarRow] = []
    month_days = [dt.date(year, month, d) for d in range(1, days + 1)]
    for m in sorted(meds, key=lambda m: (m.spec.name.lower(), m.id)):
        base = {
            "medicine_id": m.id,
            "name": m.spec.name,
            "dose": m.spec.dose,
            "route": m.spec.route,
            "time_critical": m.spec.time_critical,
        }
        if m.spec.as_needed:
            cells = []
            for d in month_days:
                n = prn_given.get((m.id, d), 0)
                cell = (
                    str(n)
                    if n
                    else (
                        "R" if (m.id, d) in prn_refused else ("" if m.active_on(d) else NOT_ACTIVE)
                    )
                )
                cells.append(cell + CORRECTED if (m.id, d) in corrected_days else cell)
            rows.append(MarRow(time="PRN", cells=cells, **base))
            continue
        for hhmm in m.spec.times:
            cells = []
            for d in month_days:
                code = by_dose.get((m.id, d, hhmm))
                if code is None:
                    code = "" if m.active_at(at_local(d, parse_hhmm(hhmm))) else NOT_ACTIVE
                cells.append(code)
            rows.append(MarRow(time=hhmm, cells=cells, **base))
    legend = {
        "G": "Given",
        "R": "Refused",
        "N": "Not given (reason recorded)",
        "M": "Missed (reason recorded)",
        "1, 2 …": "As-needed doses given",
        CORRECTED: "Corrected by a care manager (see Corrections: who, when, why)",
        NOT_ACTIVE: "Not prescribed that day",
        "(blank)": "Nothing recorded",
    }
    return MarChart(year=year, month=month, days=days, rows=rows, legend=legend)
