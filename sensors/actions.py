"""Hubs, devices and the person's sensor choices: ``do_*`` mutate, ``check_*`` authorise.

Only the provider's care managers set sensors up (``rooms.access.managed_service_users``);
anyone else gets the same "not found" as for a person who does not exist. Every change is
audited (who, what — never a token). A hub token is returned once, by
:func:`do_create_hub` and :func:`do_rotate_token`, and only its sha256 is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cocare_chat import clock
from rooms import audit
from rooms.access import managed_service_users
from rooms.errors import Conflict, Invalid, NotFound
from rooms.models import Person, ServiceUser
from sensors.family import NOTICES
from sensors.models import MovementCheck, SensorDevice, SensorHub, SensorProfile
from sensors.schemas import DeviceId, Kind

TOKEN_PREFIX = "cch_"


def new_token() -> str:
    """A fresh hub token: 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored and looked up. A lookup by the hash of a 256-bit secret leaks
    nothing useful through timing, so no constant-time compare is needed."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: DeviceId
    kind: Kind
    location: str = Field("", max_length=60)

    @field_validator("location")
    @classmethod
    def _printable(cls, v: str) -> str:
        v = " ".join(v.split())
        if any(not ch.isprintable() for ch in v):
            raise ValueError("must be printable text")
        return v


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family_notices: list[str] = Field(default_factory=list, max_length=len(NOTICES))
    movement_expected_by: dt.time | None = dt.time(10, 0)
    movement_from: dt.time = dt.time(5, 0)

    @field_validator("family_notices")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [x for x in v if x not in NOTICES]
        if unknown:
            raise ValueError(f"unknown notice {unknown[0]!r}; choose from {', '.join(NOTICES)}")
        return sorted(set(v))

    @field_validator("movement_expected_by", "movement_from")
    @classmethod
    def _whole_minutes(cls, v: dt.time | None) -> dt.time | None:
        if v is not None and (v.tzinfo is not None or v.second or v.microsecond):
            raise ValueError("a local time in whole minutes, like 10:00")
        return v


def _devices(items: Iterable[DeviceIn | dict]) -> list[DeviceIn]:
    try:
        return [d if isinstance(d, DeviceIn) else DeviceIn.model_validate(d) for d in items]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise Invalid(f"devices: {loc}: {err['msg']}") from None


def do_create_hub(
    service_user: ServiceUser,
    name: str,
    *,
    devices: Iterable[DeviceIn | dict] = (),
    by: Person | None = None,
    now: dt.datetime | None = None,
) -> tuple[SensorHub, str]:
    """Create a hub (and its devices) for ``service_user``; returns it with its token.

    The token is not stored and cannot be shown again (rotate it to get a new one).
    """
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 120:
        raise Invalid("name: 1 to 120 characters.")
    items = _devices(devices)
    now = now or clock.now()
    token = new_token()
    with transaction.atomic():
        hub = SensorHub.objects.create(
            provider_id=service_user.provider_id,
            service_user=service_user,
            name=name,
            token_hash=hash_token(token),
            created_at=now,
            created_by=by,
        )
        for d in items:
            _add_device(hub, d, now)
        ensure_profile(service_user, now)
        audit.record(
            by,
            "sensor_hub.create",
            service_user=service_user,
            target=f"sensor_hub:{hub.id}",
            now=now,
        )
    return hub, token


def _add_device(hub: SensorHub, d: DeviceIn, now: dt.datetime) -> SensorDevice:
    try:
        with transaction.atomic():
            return SensorDevice.objects.create(
                hub=hub, device_id=d.device_id, kind=d.kind, location=d.location, created_at=now
            )
    except IntegrityError:
        raise Conflict(f"Device {d.device_id} is already on this hub.") from None


def do_add_device(
    hub: SensorHub,
    device: DeviceIn | dict,
    *,
    by: Person | None = None,
    now: dt.datetime | None = None,
) -> SensorDevice:
    (d,) = _devices([device])
    now = now or clock.now()
    with transaction.atomic():
        made = _add_device(hub, d, now)
        audit.record(
            by,
            "sensor_device.add",
            service_user=hub.service_user_id,
            target=f"sensor_hub:{hub.id}",
            now=now,
        )
    return made


def do_rotate_token(
    hub: SensorHub, *, by: Person | None = None, now: dt.datetime | None = None
) -> str:
    """Replace the hub's token; the old one stops working at commit."""
    token = new_token()
    with transaction.atomic():
        SensorHub.objects.filter(pk=hub.pk).update(token_hash=hash_token(token))
        audit.record(
            by,
            "sensor_hub.rotate_token",
            service_user=hub.service_user_id,
            target=f"sensor_hub:{hub.id}",
            now=now,
        )
    hub.token_hash = hash_token(token)
    return token


def do_deactivate_hub(
    hub: SensorHub, *, by: Person | None = None, now: dt.datetime | None = None
) -> None:
    """The hub's token stops working at commit; its events stay in the record."""
    now = now or clock.now()
    with transaction.atomic():
        SensorHub.objects.filter(pk=hub.pk).update(active=False, deactivated_at=now)
        audit.record(
            by,
            "sensor_hub.deactivate",
            service_user=hub.service_user_id,
            target=f"sensor_hub:{hub.id}",
            now=now,
        )
    hub.active = False


def ensure_profile(service_user: ServiceUser, now: dt.datetime) -> SensorProfile:
    """The person's sensor profile, created with the defaults (share nothing) if missing."""
    profile, _ = SensorProfile.objects.get_or_create(
        service_user=service_user, defaults={"updated_at": now}
    )
    return profile


def do_set_profile(
    service_user: ServiceUser,
    data: ProfileIn,
    *,
    by: Person | None = None,
    now: dt.datetime | None = None,
) -> SensorProfile:
    """Record the person's choices. A changed movement time replaces the pending check
    (the ticker schedules the next one from the new time)."""
    if data.movement_expected_by is not None and data.movement_expected_by <= data.movement_from:
        raise Invalid("movement_expected_by: must be later than movement_from.")
    now = now or clock.now()
    with transaction.atomic():
        profile = ensure_profile(service_user, now)
        profile = SensorProfile.objects.select_for_update().get(pk=profile.pk)
        timer_changed = (profile.movement_expected_by, profile.movement_from) != (
            data.movement_expected_by,
            data.movement_from,
        )
        profile.family_notices = list(data.family_notices)
        profile.movement_expected_by = data.movement_expected_by
        profile.movement_from = data.movement_from
        profile.updated_at = now
        profile.updated_by = by
        profile.save()
        if timer_changed:
            MovementCheck.objects.filter(
                service_user=service_user, state=MovementCheck.State.PENDING
            ).delete()
        audit.record(
            by,
            "sensor_profile.update",
            service_user=service_user,
            target=f"sensor_profile:{profile.id}",
            now=now,
        )
    return profile


# ---- authorised entry points (the provider's care managers) --------------------------


def managed_service_user(person: Person | None, service_user_id: int) -> ServiceUser:
    su = managed_service_users(person).filter(pk=service_user_id).first()
    if su is None:
        raise NotFound("No such person.")
    return su


def _managed_hub(person: Person | None, hub_id: int) -> SensorHub:
    hub = SensorHub.objects.filter(
        pk=hub_id, service_user__in=managed_service_users(person)
    ).first()
    if hub is None:
        raise NotFound("No such hub.")
    return hub


def check_create_hub(
    person: Person | None, service_user_id: int, name: str, devices: Iterable[DeviceIn | dict] = ()
) -> tuple[SensorHub, str]:
    return do_create_hub(
        managed_service_user(person, service_user_id), name, devices=devices, by=person
    )


def check_add_device(person: Person | None, hub_id: int, device: DeviceIn | dict) -> SensorDevice:
    return do_add_device(_managed_hub(person, hub_id), device, by=person)


def check_rotate_token(person: Person | None, hub_id: int) -> str:
    return do_rotate_token(_managed_hub(person, hub_id), by=person)


def check_deactivate_hub(person: Person | None, hub_id: int) -> None:
    do_deactivate_hub(_managed_hub(person, hub_id), by=person)


def check_set_profile(
    person: Person | None, service_user_id: int, data: ProfileIn
) -> SensorProfile:
    return do_set_profile(managed_service_user(person, service_user_id), data, by=person)
