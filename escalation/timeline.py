"""Every alert transition: a timeline event, an audit event, and (for transitions people
must see) a system notice in the professional room — never the family room.

Notices go through ``rooms.messages.post_message`` with a deterministic ``client_id``
(``esc:<alert>:<event>``), so a replayed transition never posts twice.
"""

from __future__ import annotations

import datetime as dt

from escalation.models import Alert, AlertEvent
from escalation.notify import alert_audience, live_on_commit
from rooms import audit
from rooms.messages import post_message
from rooms.models import Message, Person, Room
from rooms.network import system_person


def event(
    alert: Alert,
    kind: str,
    actor: Person | None,
    now: dt.datetime,
    *,
    data=None,
    note: str = "",
    source_message: Message | None = None,
) -> AlertEvent:
    ev = AlertEvent.objects.create(
        alert=alert,
        kind=kind,
        actor=actor,
        at=now,
        data=data or {},
        note=note,
        source_message=source_message,
    )
    audit.record(
        actor,
        f"alert.{kind}",
        service_user=alert.service_user_id,
        target=f"alert:{alert.id}",
        now=now,
    )
    return ev


def professional_room(alert: Alert) -> Room:
    return Room.objects.get(service_user_id=alert.service_user_id, kind=Room.Kind.PROFESSIONAL)


def post_notice(
    room: Room, text: str, event_name: str, client_id: str, now: dt.datetime, **data
) -> Message:
    return post_message(
        room=room,
        sender=system_person(),
        kind=Message.Kind.SYSTEM,
        body=text,
        payload={"event": event_name, "data": data},
        client_id=client_id,
        now=now,
    ).message


def transition(
    alert: Alert,
    kind: str,
    actor: Person | None,
    now: dt.datetime,
    *,
    notice: str,
    data=None,
    note: str = "",
    source_message: Message | None = None,
) -> AlertEvent:
    """Record a transition people must see: event + audit + team-room notice + live hint."""
    ev = event(alert, kind, actor, now, data=data, note=note, source_message=source_message)
    post_notice(
        professional_room(alert),
        notice,
        f"alert.{kind}",
        f"esc:{alert.id}:{ev.id}",
        now,
        alert=alert.id,
        state=alert.state,
        severity=alert.severity,
    )
    live_on_commit(alert, alert_audience(alert))
    return ev
