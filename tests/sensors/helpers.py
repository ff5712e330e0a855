"""Helpers for the sensor tests: hubs built through the real actions, events as hubs send them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.test import Client

from cocare_chat import clock
from rooms.models import Organisation, Person, Role, ServiceUser
from rooms.network import do_create_service_user
from sensors.actions import do_create_hub
from tests.support.cast import person

LONDON = ZoneInfo("Europe/London")
URL = "/api/sensors/events"
DEVICES = [
    {"device_id": "pendant-1", "kind": "pendant", "location": "Pendant"},
    {"device_id": "door-front", "kind": "door", "location": "Front door"},
    {"device_id": "door-kitchen", "kind": "door", "location": "Kitchen cupboard"},
    {"device_id": "pir-hall", "kind": "motion", "location": "Hall"},
    {"device_id": "bed-1", "kind": "bed", "location": "Bedroom"},
]


def freeze_local(hhmm: str, *, day: dt.date | None = None) -> dt.datetime:
    """Freeze the clock at local ``hhmm`` on a day no other test used (so rate-limit
    windows, kept in a cache that may be a shared Redis, start empty)."""
    if day is None:
        day = dt.date(2027, 1, 1) + dt.timedelta(days=uuid.uuid4().int % 20_000)
    at = dt.datetime.combine(day, dt.time.fromisoformat(hhmm), tzinfo=LONDON).astimezone(dt.UTC)
    clock.freeze(at)
    return at


def make_hub(su: ServiceUser, devices=DEVICES, name: str = "Hall hub"):
    return do_create_hub(su, name, devices=devices, now=clock.now())


def ev(
    device_id: str,
    kind: str,
    value: float = 1,
    *,
    at: dt.datetime | None = None,
    event_id: str | None = None,
) -> dict:
    at = at or clock.now()
    return {
        "device_id": device_id,
        "event_id": event_id or f"e-{uuid.uuid4().hex[:12]}",
        "kind": kind,
        "value": value,
        "occurred_at": at.isoformat(),
    }


def send(
    token: str | None,
    events: list[dict] | None = None,
    *,
    raw: str | None = None,
    client: Client | None = None,
    auth: str | None = None,
):
    c = client or Client()
    headers = {}
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = auth
    elif token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = raw if raw is not None else json.dumps({"events": events})
    return c.post(URL, data=body, content_type="application/json", **headers)


@dataclass
class OtherTenant:
    council: Organisation
    provider: Organisation
    manager: Person
    stan: ServiceUser  # a person of the other council, cared for by the other provider


def other_tenant() -> OtherTenant:
    """A second council with its own provider, manager and service user."""
    council = Organisation.objects.create(name="Southvale Council", kind="council")
    provider = Organisation.objects.create(
        name="Harbour Care", kind="provider", commissioned_by=council
    )
    manager = person("hanna", "Hanna Harbour", Role.CARE_MANAGER, provider)
    stan = do_create_service_user(
        full_name="Stanley Moss",
        preferred_name="Stan",
        provider=provider,
        council=council,
        created_by=manager,
        now=clock.now(),
    )
    return OtherTenant(council, provider, manager, stan)
