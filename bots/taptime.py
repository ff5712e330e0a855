"""The time a check-in/out happened, from the phone's tap time and the arrival time (pure).

A care worker with no signal taps "Check in"; the entry waits in the phone's outbox and
reaches the server minutes later. The visit should say when she tapped, not when the
signal came back — but the tap time is the phone's own clock, so it is bounded:

- never after the server received it (not in the future);
- never older than ``max_age`` when received (``COCARE_BOTS_TAP_MAX_AGE_MINUTES``): an
  older claim is more likely a wrong phone clock than a long gap, so the arrival time is
  used instead, as it was before taps were kept;
- never before ``not_before`` — the worker's previous visit event (for a check-in, her
  last check-in/out anywhere; for a check-out, this visit's check-in), so a visit never
  ends before it starts and visits stay in order.

Both times are kept: the entry's ``created_at`` (received) and ``payload.tapped_at``
(claimed) in the log, and ``Visit.checked_in_at`` (bounded) with
``Visit.checkin_received_at`` on the visit.
"""

from __future__ import annotations

import datetime as dt


def bounded_tap_time(
    tapped: dt.datetime | None,
    received: dt.datetime,
    *,
    not_before: dt.datetime | None,
    max_age: dt.timedelta,
) -> dt.datetime:
    """The time to record for a check-in/out tapped at ``tapped``, received at ``received``."""
    believed = tapped is not None and tapped >= received - max_age
    at = min(tapped, received) if believed and tapped is not None else received
    if not_before is not None and at < not_before:
        at = min(not_before, received)
    return at


def parse_tapped(payload: dict[str, object] | None) -> dt.datetime | None:
    """``payload["tapped_at"]`` as an aware datetime (validated on the write path)."""
    raw = (payload or {}).get("tapped_at")
    if not isinstance(raw, str):
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None
