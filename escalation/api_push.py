"""``/api/push/…``: a person's own message-push preferences (the page's twin)."""

from __future__ import annotations

from ninja import Router, Status
from pydantic import ValidationError

from escalation.preferences import (
    PushPreferenceIn,
    do_set_push_preference,
    preference_of,
    preference_wire,
)
from rooms.api import Body, ErrorOut, me
from rooms.errors import Invalid

router = Router(tags=["push"])


class PreferenceOut(Body):
    messages_muted: bool
    quiet_from: str | None
    quiet_until: str | None


@router.get("/preferences", response={200: PreferenceOut, 404: ErrorOut})
def get_preferences(request):
    """My push preferences for new messages (alerts are not affected by them)."""
    return Status(200, preference_wire(preference_of(me(request))))


@router.put("/preferences", response={200: PreferenceOut, 404: ErrorOut, 422: ErrorOut})
def put_preferences(request, data: PushPreferenceIn):
    """Mute message pushes and/or set quiet hours ("22:00" to "07:00", local time).

    Idempotent: the same body twice leaves the same preference.
    """
    try:
        pref = do_set_push_preference(me(request), data)
    except ValidationError as exc:  # pragma: no cover - validated by the body model
        raise Invalid(str(exc)) from None
    return Status(200, preference_wire(pref))
