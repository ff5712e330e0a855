"""Whether a person wants a push for a new message now (pure; no database).

Quiet hours are local wall times and may wrap midnight (22:00–07:00). Equal ends mean no
quiet hours. Alerts never pass through here: they follow the escalation policy.
"""

from __future__ import annotations

import datetime as dt


def in_quiet_hours(at: dt.time, start: dt.time | None, end: dt.time | None) -> bool:
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end


def wants_message_push(
    *, muted: bool, quiet_from: dt.time | None, quiet_until: dt.time | None, local: dt.time
) -> bool:
    return not muted and not in_quiet_hours(local, quiet_from, quiet_until)
