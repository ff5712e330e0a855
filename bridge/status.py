"""The bridge's health, decided from facts: pure (data in, verdict out; no database).

``bridge.status_query.gather`` reads the facts from the database; ``manage.py
bridge_status``, the care managers' page and ``GET /api/bridge/status`` all render the
``BridgeStatus`` that :func:`assess` returns, so the three never disagree.

Verdicts, worst first:
- ``failing``: a room's head entry has failed ``failing_after`` passes in a row (the
  homeserver is down or refusing), or within ``window`` an entry was given up on
  (recorded ``failed``: a CoCare message that never reached Matrix) or an inbound Matrix
  event failed (a Matrix message that never reached CoCare);
- ``behind``: the oldest message still waiting to cross (queued in the outbox, or not
  yet taken from the log by the outbox consumer) or the oldest owed kick/notice is older
  than ``behind_after``;
- ``ok`` otherwise; ``off`` when no homeserver is configured (nothing is expected to cross).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    OK = "ok"
    BEHIND = "behind"
    FAILING = "failing"
    OFF = "off"


_RANK = {Verdict.OFF: 0, Verdict.OK: 0, Verdict.BEHIND: 1, Verdict.FAILING: 2}
EXIT_CODES = {Verdict.OK: 0, Verdict.OFF: 0, Verdict.BEHIND: 1, Verdict.FAILING: 2}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Frozen):
    behind_after: dt.timedelta = dt.timedelta(minutes=5)
    failing_after: int = Field(default=3, ge=1)
    window: dt.timedelta = dt.timedelta(hours=24)


class RoomFacts(_Frozen):
    """One CoCare room's outbound state, as counted in the database."""

    room_id: int
    pending: int = 0
    # When the oldest pending entry was written in CoCare (its log entry's created_at).
    oldest_pending_at: dt.datetime | None = None
    # Consecutive failed passes of the room's head entry (``OutboxEntry.failures``).
    head_failures: int = 0
    head_error: str = ""
    failed: int = 0  # entries given up on, ever
    failed_recent: int = 0  # ... of which written within the window
    last_sent_at: dt.datetime | None = None


class BridgeFacts(_Frozen):
    configured: bool
    rooms: list[RoomFacts] = Field(default_factory=list)
    # Bridged log entries the outbox consumer has not taken yet (its cursor's lag).
    unqueued: int = 0
    oldest_unqueued_at: dt.datetime | None = None
    actions_pending: int = 0  # kicks and notices owed
    oldest_action_at: dt.datetime | None = None
    inbound_failed_recent: int = 0


class RoomStatus(_Frozen):
    room_id: int
    state: Verdict
    pending: int
    oldest_pending_age_s: float | None
    head_failures: int
    last_error: str
    failed: int
    failed_recent: int
    last_success: dt.datetime | None
    reasons: list[str]


class BridgeStatus(_Frozen):
    verdict: Verdict
    exit_code: int
    reasons: list[str]
    checked_at: dt.datetime
    rooms: list[RoomStatus]
    pending: int
    unqueued: int
    oldest_unqueued_age_s: float | None
    actions_pending: int
    oldest_action_age_s: float | None
    inbound_failed_recent: int
    last_success: dt.datetime | None


def _age(at: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if at is None else round(max(0.0, (now - at).total_seconds()), 1)


def _worst(a: Verdict, b: Verdict) -> Verdict:
    return a if _RANK[a] >= _RANK[b] else b


def _room(facts: RoomFacts, now: dt.datetime, th: Thresholds) -> tuple[RoomStatus, list[str]]:
    state, why = Verdict.OK, []
    age = _age(facts.oldest_pending_at, now)
    if facts.head_failures >= th.failing_after:
        state = Verdict.FAILING
        why.append(
            f"room {facts.room_id}: head entry failed {facts.head_failures} times "
            f"in a row ({facts.head_error or 'no error code'})"
        )
    if facts.failed_recent:
        state = Verdict.FAILING
        why.append(
            f"room {facts.room_id}: {facts.failed_recent} entries given up on "
            "(never reached Matrix)"
        )
    if age is not None and age > th.behind_after.total_seconds():
        state = _worst(state, Verdict.BEHIND)
        why.append(f"room {facts.room_id}: {facts.pending} pending, oldest {age:.0f} s")
    return RoomStatus(
        room_id=facts.room_id,
        state=state,
        pending=facts.pending,
        oldest_pending_age_s=age,
        head_failures=facts.head_failures,
        last_error=facts.head_error,
        failed=facts.failed,
        failed_recent=facts.failed_recent,
        last_success=facts.last_sent_at,
        reasons=why,
    ), why


def assess(facts: BridgeFacts, now: dt.datetime, th: Thresholds | None = None) -> BridgeStatus:
    """The verdict over every room and the bridge-wide queues (see the module docstring)."""
    th = th or Thresholds()
    limit = th.behind_after.total_seconds()
    verdict, reasons, rooms = Verdict.OK, [], []
    for rf in sorted(facts.rooms, key=lambda r: r.room_id):
        status, why = _room(rf, now, th)
        rooms.append(status)
        reasons += why
        verdict = _worst(verdict, status.state)
    unqueued_age = _age(facts.oldest_unqueued_at, now)
    if unqueued_age is not None and unqueued_age > limit:
        verdict = _worst(verdict, Verdict.BEHIND)
        reasons.append(
            f"{facts.unqueued} log entries not yet queued, oldest "
            f"{unqueued_age:.0f} s (is the bridge worker running?)"
        )
    action_age = _age(facts.oldest_action_at, now)
    if action_age is not None and action_age > limit:
        verdict = _worst(verdict, Verdict.BEHIND)
        reasons.append(f"{facts.actions_pending} kicks/notices owed, oldest {action_age:.0f} s")
    if facts.inbound_failed_recent:
        verdict = Verdict.FAILING
        reasons.append(f"{facts.inbound_failed_recent} Matrix events failed to reach CoCare")
    if not facts.configured:
        verdict, reasons = Verdict.OFF, ["the Matrix bridge is not configured", *reasons]
    sent = [r.last_sent_at for r in facts.rooms if r.last_sent_at is not None]
    return BridgeStatus(
        verdict=verdict,
        exit_code=EXIT_CODES[verdict],
        reasons=reasons,
        checked_at=now,
        rooms=rooms,
        pending=sum(r.pending for r in facts.rooms),
        unqueued=facts.unqueued,
        oldest_unqueued_age_s=unqueued_age,
        actions_pending=facts.actions_pending,
        oldest_action_age_s=action_age,
        inbound_failed_recent=facts.inbound_failed_recent,
        last_success=max(sent) if sent else None,
    )
