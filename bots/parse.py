"""Reading intent from a care worker's entry (pure): check in, check out, a number.

Tolerant of case, punctuation, hyphens, a leading emoji and a trailing "now" or
"please", but the whole message must be the command: "check in with the GP about her
tablets" is not a check-in.
An entry carrying a position (the check-in/out button) is a check-in unless its text says
check out.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from bots.geo import Position, fresh_position, parse_position
from bots.taptime import parse_tapped

_TAIL = r"(?:\s+(?:now|please|here))*[\s.!👋✅]*"
_CHECK_IN = re.compile(
    r"^\s*(?:i'?m\s+|i\s+am\s+|just\s+)?(?:check(?:ing|ed)?[\s_-]*in|arrived)" + _TAIL + r"$",
    re.IGNORECASE,
)
_CHECK_OUT = re.compile(
    r"^\s*(?:i'?m\s+|i\s+am\s+|just\s+)?(?:check(?:ing|ed)?[\s_-]*out|leaving)" + _TAIL + r"$",
    re.IGNORECASE,
)
_LEAD = re.compile(r"^[^\w#]+")
_NUMBER = re.compile(r"^\s*#?(\d{1,2})\s*[.)!]?\s*$")

Intent = Literal["check_in", "check_out", "number", "text"]


def intent(
    body: str, payload: dict[str, object] | None, received: dt.datetime | None = None
) -> tuple[Intent, Position | None, int | None]:
    """(intent, position if the entry carried one, number if it is just a number).

    The position is judged by its fix time against the tap time and ``received`` (when
    the entry arrived): one that is not fresh comes back marked ``stale`` (bots/geo.py)."""
    payload = payload or {}
    position = fresh_position(
        parse_position(payload.get("location")), parse_tapped(payload), received
    )
    has_location = "location" in payload
    text = (body or "").strip()
    command = _LEAD.sub("", text)  # "📍 Check in" from a button
    if _CHECK_OUT.match(command):
        return "check_out", position, None
    if _CHECK_IN.match(command) or has_location:
        return "check_in", position, None
    m = _NUMBER.match(text)
    if m:
        return "number", None, int(m.group(1))
    return "text", None, None
