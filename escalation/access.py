"""Who may see and act on alerts — built on ``rooms.access`` primitives.

``rooms`` must not import ``escalation`` (DESIGN.md §2), so alert authorisation lives
here, and only here; every rule below calls ``rooms.access`` for the facts it needs:

- the provider's care managers (``rooms.access.is_provider_manager``) see and act on
  every alert of their provider's service users (inbox, ack, resolve, reopen, tell family);
- a council commissioner (role ``commissioner``, organisation = the service user's
  council) sees alerts that were escalated to the council (``council_notified_at`` set),
  read-only, and each flagged message only with a small window of context
  (``CONTEXT`` entries either side, text and notes only) — never a whole history.
  Every such read is written to the audit log;
- a council assessor (role ``assessor``) sees the same — escalated alerts, read-only, with
  the small context window, audited — for the people allocated to them only
  (``rooms.access.assessor_allocated``), and only while the allocation lasts;
- anyone else: "not found" (alert ids cannot be probed);
- raising a concern needs read access to the message's room (``rooms.access.access_room``)
  and the message must be in the part of the history the person can see.
"""

from __future__ import annotations

from django.db.models import QuerySet

from escalation.models import Alert
from rooms import audit
from rooms.access import (
    Action,
    access_room,
    allocated_service_users,
    assessor_allocated,
    is_provider_manager,
)
from rooms.errors import NotFound
from rooms.models import Message, Organisation, Person, Role

CONTEXT = 2
CONTEXT_KINDS = (Message.Kind.TEXT, Message.Kind.NOTE)


def is_council_reader(person: Person, alert: Alert) -> bool:
    return (
        person.role == Role.COMMISSIONER
        and person.organisation_id is not None
        and person.organisation_id == alert.service_user.council_id
        and alert.council_notified_at is not None
    )


def is_assessor_reader(person: Person, alert: Alert) -> bool:
    return (
        person.role == Role.ASSESSOR
        and alert.council_notified_at is not None
        and assessor_allocated(person, alert.service_user)
    )


def is_escalated_reader(person: Person, alert: Alert) -> bool:
    """Council staff who read an escalated alert with the context window only."""
    return is_council_reader(person, alert) or is_assessor_reader(person, alert)


def visible_alerts(person: Person) -> QuerySet[Alert]:
    qs = Alert.objects.select_related("service_user")
    if person.role == Role.CARE_MANAGER and person.organisation_id:
        return qs.filter(service_user__provider_id=person.organisation_id)
    if person.role == Role.COMMISSIONER and person.organisation_id:
        return qs.filter(
            service_user__council_id=person.organisation_id, council_notified_at__isnull=False
        )
    if person.role == Role.ASSESSOR:
        return qs.filter(
            service_user__in=allocated_service_users(person), council_notified_at__isnull=False
        )
    return qs.none()


def access_alert(person: Person | None, alert_id: int, *, manage: bool = False) -> Alert:
    """Fetch an alert the person may see (``manage``: act on). NotFound otherwise."""
    alert = Alert.objects.select_related("service_user").filter(pk=alert_id).first()
    if alert is None or person is None:
        raise NotFound("No such alert.")
    if is_provider_manager(person, alert.service_user):
        return alert
    if not manage and is_escalated_reader(person, alert):
        return alert
    raise NotFound("No such alert.")


def access_message_for_concern(person: Person | None, message_id: int) -> Message:
    """The message a person raises a concern about, if they can read it."""
    msg = Message.objects.select_related("room", "room__service_user").filter(pk=message_id).first()
    if msg is None or person is None:
        raise NotFound("No such message.")
    room, m = access_room(person, msg.room_id, Action.READ)
    if msg.seq <= m.visible_from_seq or msg.kind not in (*CONTEXT_KINDS, Message.Kind.ANSWER):
        raise NotFound("No such message.")
    return msg


def flagged_context(person: Person, alert: Alert, message: Message) -> list[Message] | None:
    """The flagged message with up to ``CONTEXT`` text entries either side, or None when
    the person may not read it. Audited (who, which message — not the content)."""
    if message.room.service_user_id != alert.service_user_id:
        return None
    visible_from = 0
    if not is_escalated_reader(person, alert) or is_provider_manager(person, alert.service_user):
        try:
            _, m = access_room(person, message.room_id, Action.READ)
        except NotFound:
            return None
        visible_from = m.visible_from_seq
        if message.seq <= visible_from:
            return None
    base = Message.objects.filter(
        room_id=message.room_id, kind__in=CONTEXT_KINDS, seq__gt=visible_from
    ).select_related("sender")
    before = list(base.filter(seq__lt=message.seq).order_by("-seq")[:CONTEXT])
    after = list(base.filter(seq__gt=message.seq).order_by("seq")[:CONTEXT])
    audit.record(person, "alert.context_read", room=message.room, target=f"message:{message.id}")
    return [*reversed(before), message, *after]


def access_provider_setup(person: Person | None) -> Organisation:
    """The provider whose escalation set-up (on-call rota, policy) ``person`` manages:
    a care manager's own provider. Anyone else: NotFound (the set-up pages and API
    answer like a missing page)."""
    if (
        person is None
        or person.role != Role.CARE_MANAGER
        or person.organisation is None
        or person.organisation.kind != Organisation.Kind.PROVIDER
    ):
        raise NotFound("Not found.")
    return person.organisation
