"""Accuracy-aware position check against a service user's home (pure; no DB).

A phone reports a position and an accuracy radius (metres, ~68% confidence). The check
gives the worker the benefit of the doubt: in range when the closest point of the
accuracy circle is within the home radius (``distance - accuracy <= radius``), out of
range only when even that point is outside. Out of range or no location is recorded and
flagged — never blocked.

A position is also judged by *when* it was taken (``fresh_position``): the room page sends
the fix time (Geolocation ``timestamp``, ``location.fixed_at``) with the tap time. A fix
more than ``FIX_MAX_AGE`` older than the tap (a cached position from the street outside
the previous visit), or later than the tap plus ``FIX_MAX_WAIT`` or the arrival plus
``FIX_MAX_WAIT`` (in the future: a wrong clock), or missing where the tap time is given,
is not believed: the check-in/out is still recorded, as a location exception "position not
fresh" (status ``no_location``), and the fix is not kept as the visit's position.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

EARTH_RADIUS_M = 6_371_008.8
FIX_MAX_AGE = dt.timedelta(seconds=10)
# The page asks for a fix after the tap and waits at most 15 s for it: anything later
# than this after the tap (or after the entry arrived) is a clock that cannot be right.
FIX_MAX_WAIT = dt.timedelta(seconds=30)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Position(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy: float = Field(ge=0, le=100_000)
    # When the phone took the fix (its own clock); None from clients that do not say.
    fixed_at: AwareDatetime | None = None
    # Set by ``fresh_position``: the fix is too old or in the future, not to be used.
    stale: bool = False


class Home(Strict):
    lat: float | None = None
    lon: float | None = None
    radius_m: int = Field(ge=1, le=100_000)
    exempt: bool = False


Status = Literal["in_range", "out_of_range", "no_location", "exempt", "no_home"]


class LocationCheck(Strict):
    status: Status
    radius_m: int
    distance_m: float | None = None
    accuracy_m: float | None = None
    # Kept only when the check was made (never for exempt homes): read at check-in/out only.
    position: Position | None = None
    stale: bool = False  # no_location because the fix was not fresh

    @property
    def is_exception(self) -> bool:
        return self.status in ("out_of_range", "no_location")

    def describe(self) -> str:
        if self.status == "in_range":
            return "at home"
        if self.status == "out_of_range":
            d, acc = round(self.distance_m or 0), round(self.accuracy_m or 0)
            return f"about {d} m from home (±{acc} m)"
        if self.status == "no_location" and self.stale:
            within = f" (±{round(self.accuracy_m)} m)" if self.accuracy_m is not None else ""
            return f"position not fresh{within}: not taken within 10 s of the tap"
        if self.status == "no_location":
            return "no location shared"
        if self.status == "exempt":
            return "location not checked (exempt)"
        return "no home location on record"


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def parse_position(raw: object) -> Position | None:
    """A ``TextPayload.location`` map as a Position, or None when absent or malformed."""
    if not isinstance(raw, dict):
        return None
    try:
        return Position.model_validate(raw)
    except ValidationError:
        return None


def fresh_position(
    position: Position | None, tapped: dt.datetime | None, received: dt.datetime | None
) -> Position | None:
    """``position`` as given when its fix time is believable, else marked ``stale``.

    Believable: taken at most ``FIX_MAX_AGE`` before the tap and at most ``FIX_MAX_WAIT``
    after it (both the phone's clock), and not more than ``FIX_MAX_WAIT`` after the entry
    arrived (the server's). With a tap time but no fix time, it is stale (the room page
    always sends both). With neither (a typed "check in", an older integration) there is
    nothing to judge and the position stands as before.
    """
    if position is None:
        return None
    fixed = position.fixed_at
    if fixed is None:
        return position.model_copy(update={"stale": True}) if tapped is not None else position
    ok = True
    if tapped is not None:
        ok = tapped - FIX_MAX_AGE <= fixed <= tapped + FIX_MAX_WAIT
    if received is not None:
        ok = ok and fixed <= received + FIX_MAX_WAIT
        if tapped is None:
            ok = ok and fixed >= received - FIX_MAX_AGE
    return position if ok else position.model_copy(update={"stale": True})


def check_location(position: Position | None, home: Home) -> LocationCheck:
    if home.exempt:
        return LocationCheck(status="exempt", radius_m=home.radius_m)
    if position is None:
        return LocationCheck(status="no_location", radius_m=home.radius_m)
    if position.stale:
        return LocationCheck(
            status="no_location", radius_m=home.radius_m, accuracy_m=position.accuracy, stale=True
        )
    if home.lat is None or home.lon is None:
        return LocationCheck(
            status="no_home",
            radius_m=home.radius_m,
            position=position,
            accuracy_m=position.accuracy,
        )
    distance = haversine_m(position.lat, position.lon, home.lat, home.lon)
    status: Status = "in_range" if distance - position.accuracy <= home.radius_m else "out_of_range"
    return LocationCheck(
        status=status,
        radius_m=home.radius_m,
        distance_m=round(distance, 1),
        accuracy_m=position.accuracy,
        position=position,
    )
