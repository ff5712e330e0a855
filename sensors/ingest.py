"""The write path for sensor events: a hub's batch in, ``signal`` entries in the log out.

:func:`ingest` is the only way an event enters the record, for the HTTP endpoint and
for ``manage.py simulate_sensors`` alike.

Guarantees:
- **validation is all-or-nothing**: every event of the batch is checked (schema, a device
  of *this* hub, kind and value, freshness against ``now``) before anything is written; one
  bad event refuses the batch with ``Invalid`` naming ``events.<i>.<field>``;
- **storage is per event and idempotent** on ``(device, event_id)``: each event commits in
  its own transaction (short log-lock holds), so a batch cut short by a crash is completed
  by the hub's retry and a replayed event is answered ``duplicate`` with nothing written;
- each stored event is one ``signal`` entry (``{"signal": "sensor", "data": SensorSignal}``)
  in the person's **professional room**, through ``rooms.messages.post_message`` with the
  system sender and ``client_id = event_client_id(...)``; sensor data never becomes chat
  text, and the family room gets only a notice the person agreed to (``sensors.family``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from rooms.errors import Invalid
from rooms.messages import post_message
from rooms.models import Message, Room
from rooms.network import system_person
from sensors.actions import hash_token
from sensors.family import notice_for
from sensors.models import SensorDevice, SensorEvent, SensorHub, SensorProfile
from sensors.schemas import BatchIn, EventIn, SensorSignal, fresh, value_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    device_id: str
    event_id: str
    status: str  # "stored" | "duplicate"

    def wire(self) -> dict[str, str]:
        return {"device_id": self.device_id, "event_id": self.event_id, "status": self.status}


def authenticate(token: str | None) -> SensorHub | None:
    """The active hub this bearer token belongs to, or None (for any reason)."""
    if not token or len(token) > 200:
        return None
    return (
        SensorHub.objects.select_related("service_user")
        .filter(token_hash=hash_token(token), active=True)
        .first()
    )


def event_key(hub_id: int, device_id: str, event_id: str) -> str:
    return hashlib.sha256(f"{hub_id}\x1f{device_id}\x1f{event_id}".encode()).hexdigest()


def event_client_id(hub_id: int, device_id: str, event_id: str) -> str:
    """The log entry's client id: deterministic per event, 63 characters."""
    return "sensor:" + event_key(hub_id, device_id, event_id)[:56]


def validate_batch(
    hub: SensorHub, batch: BatchIn, now: dt.datetime
) -> list[tuple[SensorDevice, EventIn]]:
    """Every event paired with its device, or ``Invalid`` naming the first few bad fields.

    Devices are looked up on the authenticated hub only: another hub's device id is
    "no such device", whoever it belongs to.
    """
    devices = {d.device_id: d for d in SensorDevice.objects.filter(hub=hub, active=True)}
    errors: list[str] = []
    pairs: list[tuple[SensorDevice, EventIn]] = []
    for i, ev in enumerate(batch.events):
        device = devices.get(ev.device_id)
        if device is None:
            errors.append(f"events.{i}.device_id: no such device on this hub")
            continue
        if ev.kind != device.kind:
            errors.append(f"events.{i}.kind: this device is a {device.kind} sensor")
        why = value_error(ev.kind, ev.value)
        if why:
            errors.append(f"events.{i}.value: {why}")
        why = fresh(ev.occurred_at, now)
        if why:
            errors.append(f"events.{i}.occurred_at: {why}")
        pairs.append((device, ev))
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise Invalid("; ".join(errors[:5]) + more)
    return pairs


def ingest(hub: SensorHub, batch: BatchIn, now: dt.datetime) -> list[Result]:
    """Validate the whole batch, then store each event once. Returns one result per event."""
    pairs = validate_batch(hub, batch, now)
    rooms = {r.kind: r for r in Room.objects.filter(service_user_id=hub.service_user_id)}
    shared = list(
        SensorProfile.objects.filter(service_user_id=hub.service_user_id)
        .values_list("family_notices", flat=True)
        .first()
        or []
    )
    results = [_store(hub, device, ev, rooms, shared, now) for device, ev in pairs]
    SensorHub.objects.filter(pk=hub.pk).update(last_seen_at=now)
    log.info(
        "sensor hub %s: %s stored, %s duplicate",
        hub.pk,
        sum(r.status == "stored" for r in results),
        sum(r.status == "duplicate" for r in results),
    )
    return results


def _store(
    hub: SensorHub,
    device: SensorDevice,
    ev: EventIn,
    rooms: dict[str, Room],
    shared: list[str],
    now: dt.datetime,
) -> Result:
    stored = Result(ev.device_id, ev.event_id, "stored")
    duplicate = Result(ev.device_id, ev.event_id, "duplicate")
    with transaction.atomic():
        if SensorEvent.objects.filter(device=device, event_id=ev.event_id).exists():
            return duplicate
        data = SensorSignal(
            kind=ev.kind,
            value=ev.value,
            occurred_at=ev.occurred_at,
            location=device.location,
            device=device.device_id,
            hub=hub.pk,
            event_id=ev.event_id,
        ).model_dump(mode="json", exclude_none=True)
        posted = post_message(
            room=rooms[Room.Kind.PROFESSIONAL],
            sender=system_person(),
            kind=Message.Kind.SIGNAL,
            payload={"signal": "sensor", "data": data},
            client_id=event_client_id(hub.pk, device.device_id, ev.event_id),
            now=now,
        )
        try:
            with transaction.atomic():
                SensorEvent.objects.create(
                    hub=hub,
                    device=device,
                    service_user_id=hub.service_user_id,
                    event_id=ev.event_id,
                    kind=ev.kind,
                    value=ev.value,
                    occurred_at=ev.occurred_at,
                    received_at=now,
                    message=posted.message,
                )
        except IntegrityError:
            return duplicate  # a concurrent request with the same event won the race
        if ev.kind == "pendant" and ev.value >= 1:
            text = notice_for("pendant", shared, ev.occurred_at)
            if text:
                key = event_key(hub.pk, device.device_id, ev.event_id)
                post_message(
                    room=rooms[Room.Kind.FAMILY],
                    sender=system_person(),
                    kind=Message.Kind.SYSTEM,
                    body=text,
                    payload={"event": "sensor.family_notice", "data": {"notice": "pendant"}},
                    client_id="sensor-family:" + key[:48],
                    now=now,
                )
    return stored
