"""Escalation policies as validated data, and the pure step engine :func:`next_action`.

A policy is a list of steps run in order from the alert's snapshot:

- ``notify_role``: the assigned care managers (members of the professional room); during
  quiet hours the provider's on-call primary instead (falling back to the assigned
  managers when nobody is on call);
- ``wait``: the next step becomes due ``minutes`` after this one was due (schedule-based,
  so a ticker that was down catches up on the original schedule, never drifting);
- ``repeat``: go back to step ``back_to`` at most ``times`` times, then carry on;
- ``notify_deputies``: the on-call deputies, else the provider's other care managers;
- ``notify_council``: the council duty contacts (commissioners of the service user's
  council) — at most once per alert.

Severities in ``council_at_once_for`` also notify the council as soon as the alert opens
(and the later ``notify_council`` step then finds it already done).

Everything here is pure: state, policy, directory and ``now`` in, a plan out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, field_validator, model_validator

from escalation.schemas import Severity, Strict

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "rules" / "default_policy.yaml"
MAX_PLANS_PER_RUN = 200


class NotifyRole(Strict):
    type: Literal["notify_role"]
    role: Literal["care_manager"] = "care_manager"


class Wait(Strict):
    type: Literal["wait"]
    minutes: int = Field(ge=1, le=7 * 24 * 60)


class Repeat(Strict):
    type: Literal["repeat"]
    back_to: int = Field(ge=0)
    times: int = Field(ge=1, le=10)


class NotifyDeputies(Strict):
    type: Literal["notify_deputies"]


class NotifyCouncil(Strict):
    type: Literal["notify_council"]


Step = Annotated[
    NotifyRole | Wait | Repeat | NotifyDeputies | NotifyCouncil, Field(discriminator="type")
]


class QuietHours(Strict):
    start: dt.time
    end: dt.time
    timezone: str = "Europe/London"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    def contains(self, now: dt.datetime) -> bool:
        """True when ``now`` falls in the window (which may run over midnight)."""
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def _safeguarding_only() -> list[Severity]:
    return ["safeguarding"]


class Policy(Strict):
    version: int = Field(1, ge=1)
    steps: list[Step] = Field(min_length=1, max_length=50)
    council_at_once_for: list[Severity] = Field(default_factory=_safeguarding_only)
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _repeats_go_back(self) -> Policy:
        for i, s in enumerate(self.steps):
            if isinstance(s, Repeat) and s.back_to >= i:
                raise ValueError(f"steps.{i}: repeat.back_to must point at an earlier step")
        return self


def parse_policy(data: object) -> Policy:
    return Policy.model_validate(data)


def default_policy() -> Policy:
    return parse_policy(yaml.safe_load(DEFAULT_POLICY_FILE.read_text(encoding="utf-8")))


# ---- the directory: who can be notified, as a snapshot -------------------------------


class Shift(Strict):
    person: int
    role: Literal["primary", "deputy"]
    starts_at: dt.datetime
    ends_at: dt.datetime

    def covers(self, now: dt.datetime) -> bool:
        return self.starts_at <= now < self.ends_at


class Directory(Strict):
    """People the steps can reach, resolved by the shell for one service user."""

    assigned_managers: list[int] = Field(default_factory=list)
    provider_managers: list[int] = Field(default_factory=list)
    council_contacts: list[int] = Field(default_factory=list)
    rota: list[Shift] = Field(default_factory=list)

    def on_call(self, role: str, now: dt.datetime) -> list[int]:
        return sorted({s.person for s in self.rota if s.role == role and s.covers(now)})


# ---- state and plans -----------------------------------------------------------------


class AlertState(Strict):
    state: Literal["open", "acknowledged", "resolved"]
    severity: Severity
    step_index: int = Field(ge=0)
    next_step_at: dt.datetime | None
    repeats: dict[str, int] = Field(default_factory=dict)
    council_notified: bool = False


Audience = Literal["managers", "on_call", "deputies", "council", "none"]

COUNCIL_AT_ONCE = -1  # step index of the immediate council notice for severe alerts


class Plan(Strict):
    """One step to execute now, and the state to store after it."""

    index: int  # policy step index, or COUNCIL_AT_ONCE
    step_type: str
    due_at: dt.datetime
    audience: Audience
    recipients: list[int]
    note: str = ""
    next_index: int
    next_step_at: dt.datetime | None
    repeats: dict[str, int]
    council_notified: bool


def _recipients(
    step: Step, policy: Policy, d: Directory, now: dt.datetime, council_done: bool
) -> tuple[Audience, list[int], str]:
    if isinstance(step, NotifyRole):
        if policy.quiet_hours is not None and policy.quiet_hours.contains(now):
            on_call = d.on_call("primary", now)
            if on_call:
                return "on_call", on_call, "quiet hours: on-call manager"
            return "managers", sorted(set(d.assigned_managers)), "quiet hours: nobody on call"
        return "managers", sorted(set(d.assigned_managers)), ""
    if isinstance(step, NotifyDeputies):
        deputies = d.on_call("deputy", now)
        if deputies:
            return "deputies", deputies, ""
        others = sorted(set(d.provider_managers) - set(d.assigned_managers))
        return "deputies", others, "no deputy on call: other care managers"
    if isinstance(step, NotifyCouncil):
        if council_done:
            return "none", [], "council already notified"
        return "council", sorted(set(d.council_contacts)), ""
    return "none", [], ""


def next_action(
    alert: AlertState, policy: Policy, now: dt.datetime, rota: Directory
) -> Plan | None:
    """The step due now for ``alert``, or None when nothing is due.

    Deterministic in its arguments. Apply the plan, then call again: several steps can be
    due at once (notify, then wait; or a catch-up after downtime).
    """
    if alert.state == "resolved":
        return None
    if alert.severity in policy.council_at_once_for and not alert.council_notified:
        # Also for an acknowledged alert whose severity was raised by a later flag.
        due = min(alert.next_step_at, now) if alert.next_step_at else now
        return Plan(
            index=COUNCIL_AT_ONCE,
            step_type="notify_council",
            due_at=due,
            audience="council",
            recipients=sorted(set(rota.council_contacts)),
            note=f"{alert.severity} severity: council at once",
            next_index=alert.step_index,
            next_step_at=alert.next_step_at,
            repeats=dict(alert.repeats),
            council_notified=True,
        )
    if alert.state != "open" or alert.next_step_at is None or alert.next_step_at > now:
        return None
    due = alert.next_step_at
    i = alert.step_index
    if i >= len(policy.steps):
        return None
    step = policy.steps[i]
    repeats = dict(alert.repeats)
    nxt = i + 1
    next_at: dt.datetime | None = due
    note = ""
    if isinstance(step, Wait):
        next_at = due + dt.timedelta(minutes=step.minutes)
    elif isinstance(step, Repeat):
        done = repeats.get(str(i), 0)
        if done < step.times:
            repeats[str(i)] = done + 1
            nxt = step.back_to
            note = f"repeat {done + 1} of {step.times}"
        else:
            note = "repeats used up"
    audience, recipients, why = _recipients(step, policy, rota, now, alert.council_notified)
    council_done = alert.council_notified or isinstance(step, NotifyCouncil)
    if nxt >= len(policy.steps):
        next_at = None
    return Plan(
        index=i,
        step_type=step.type,
        due_at=due,
        audience=audience,
        recipients=recipients,
        note=note or why,
        next_index=nxt,
        next_step_at=next_at,
        repeats=repeats,
        council_notified=council_done,
    )


def apply_plan(alert: AlertState, plan: Plan) -> AlertState:
    """The alert state after ``plan`` ran (pure; the shell stores the same fields)."""
    return alert.model_copy(
        update={
            "step_index": plan.next_index,
            "next_step_at": plan.next_step_at,
            "repeats": plan.repeats,
            "council_notified": plan.council_notified,
        }
    )
