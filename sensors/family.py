"""What the family room may be told about sensors: only what the person agreed to.

The default is nothing. A person (or whoever holds their lawful basis) can agree to share
named notices, recorded on ``SensorProfile.family_notices``. Each notice is generic,
family-safe text: no device, room or reading — "the team has been alerted", not what the
sensors saw.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings

# name -> template; {time} is the local time of the event.
NOTICES: dict[str, str] = {
    "pendant": "Pendant pressed at {time} \u2014 the care team has been alerted.",
    "no_movement": "No movement noticed by {time} \u2014 the care team has been alerted.",
}


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def hhmm(at: dt.datetime) -> str:
    return at.astimezone(local_tz()).strftime("%H:%M")


def notice_for(name: str, shared: list[str], at: dt.datetime) -> str | None:
    """The family-room text for notice ``name`` at ``at``, or None if not agreed (pure)."""
    if name not in NOTICES or name not in shared:
        return None
    return NOTICES[name].format(time=hhmm(at))
