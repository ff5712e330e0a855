"""A person's push preferences for new messages: mute, quiet hours (one write path).

``do_set_push_preference`` is the only writer of ``PushPreference`` (the notifications
page and ``PUT /api/push/preferences`` both call it): an upsert on the person, so
submitting the same choice twice is harmless. It touches no other row.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, StrictBool, model_validator

from cocare_chat import clock
from escalation.models import PushPreference
from rooms.models import Person


class PushPreferenceIn(BaseModel):
    """Mute message pushes, and/or quiet hours (local time; both ends or neither)."""

    model_config = ConfigDict(extra="forbid")

    messages_muted: StrictBool = False
    quiet_from: dt.time | None = None
    quiet_until: dt.time | None = None

    @model_validator(mode="after")
    def _both_ends(self) -> PushPreferenceIn:
        if (self.quiet_from is None) != (self.quiet_until is None):
            raise ValueError("quiet hours need both a start and an end")
        for t in (self.quiet_from, self.quiet_until):
            if t is not None and t.tzinfo is not None:
                raise ValueError("quiet hours are local times, without a UTC offset")
        if self.quiet_from is not None and self.quiet_from == self.quiet_until:
            raise ValueError("quiet hours must start and end at different times")
        return self


def preference_wire(p: PushPreference | None) -> dict:
    return {
        "messages_muted": bool(p and p.messages_muted),
        "quiet_from": p.quiet_from.strftime("%H:%M") if p and p.quiet_from else None,
        "quiet_until": p.quiet_until.strftime("%H:%M") if p and p.quiet_until else None,
    }


def preference_of(person: Person) -> PushPreference | None:
    return PushPreference.objects.filter(person=person).first()


def do_set_push_preference(
    person: Person, data: PushPreferenceIn, now: dt.datetime | None = None
) -> PushPreference:
    pref, _ = PushPreference.objects.update_or_create(
        person=person,
        defaults={
            "messages_muted": data.messages_muted,
            "quiet_from": data.quiet_from.replace(second=0, microsecond=0)
            if data.quiet_from
            else None,
            "quiet_until": data.quiet_until.replace(second=0, microsecond=0)
            if data.quiet_until
            else None,
            "updated_at": now or clock.now(),
        },
    )
    return pref
