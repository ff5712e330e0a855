"""Home sensors: hubs, their devices, what they sent, and the daily movement timer.

Models hold data only; state changes live in ``sensors.actions`` (hubs, devices, the
person's choices), ``sensors.ingest`` (events) and ``sensors.ticker`` (the timer).
Idempotency keys (DESIGN.md §3.6) are unique constraints here:

- a hub is found by ``token_hash`` (sha256 of the token; the token itself is never stored);
- a device once per ``(hub, device_id)``;
- an event once per ``(device, event_id)``: a hub replaying a batch stores nothing twice;
- a movement check once per ``(service_user, day)``.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q

from rooms.models import Message, Organisation, Person, ServiceUser


class DeviceKind(models.TextChoices):
    DOOR = "door", "Door contact"
    MOTION = "motion", "Motion sensor"
    BED = "bed", "Bed occupancy"
    PENDANT = "pendant", "Pendant alarm"


class SensorHub(models.Model):
    """A hub in a person's home. It authenticates with a bearer token shown once."""

    provider = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.PROTECT, related_name="sensor_hubs"
    )
    name = models.CharField(max_length=120)
    # sha256 hex of the token; the token itself is shown once at creation (or rotation).
    token_hash = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"hub {self.pk} ({self.name})"


class SensorDevice(models.Model):
    hub = models.ForeignKey(SensorHub, on_delete=models.PROTECT, related_name="devices")
    # The hub's own id for the device: ASCII only (sensors.schemas.DeviceId).
    device_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=DeviceKind.choices)
    # Where it is ("Front door", "Kitchen"); the door-at-night rule matches on it.
    location = models.CharField(max_length=60, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hub", "device_id"], name="one_device_id_per_hub")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.device_id}"


class SensorEvent(models.Model):
    """The ingestion record: one row per event a device sent, with its log entry."""

    hub = models.ForeignKey(SensorHub, on_delete=models.PROTECT, related_name="+")
    device = models.ForeignKey(SensorDevice, on_delete=models.PROTECT, related_name="events")
    service_user = models.ForeignKey(ServiceUser, on_delete=models.PROTECT, related_name="+")
    event_id = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=DeviceKind.choices)
    value = models.FloatField()
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    message = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "event_id"], name="one_event_per_device_id")
        ]
        indexes = [models.Index(fields=["service_user", "kind", "occurred_at"])]


class SensorProfile(models.Model):
    """The person's choices about their sensors (one row per service user).

    ``family_notices``: what the family room may be told, from ``sensors.family.NOTICES``
    — empty (the default) means nothing. ``movement_expected_by``: local time by which
    movement is expected each day (null: no check); movement counts from ``movement_from``.
    """

    service_user = models.OneToOneField(
        ServiceUser, on_delete=models.CASCADE, related_name="sensor_profile"
    )
    family_notices = models.JSONField(default=list, blank=True)
    movement_expected_by = models.TimeField(null=True, blank=True, default=dt.time(10, 0))
    movement_from = models.TimeField(default=dt.time(5, 0))
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(movement_expected_by__isnull=True)
                | Q(movement_expected_by__gt=models.F("movement_from")),
                name="movement_window_is_ordered",
            )
        ]


class MovementCheck(models.Model):
    """Timer row (DESIGN.md §3.5): "no movement by HH:MM" for one person and day.

    Claimed by ``sensors.ticker.MovementTicker`` once ``due_at`` has passed, with
    ``select_for_update(skip_locked=True)``; evaluated once (``state`` leaves ``pending``).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        OK = "ok", "Movement seen"
        RAISED = "raised", "No movement: raised"
        SKIPPED = "skipped", "No active movement sensor"
        FAILED = "failed", "Failed (gave up)"

    service_user = models.ForeignKey(
        ServiceUser, on_delete=models.CASCADE, related_name="movement_checks"
    )
    day = models.DateField()
    window_start = models.DateTimeField()
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service_user", "day"], name="one_movement_check_a_day")
        ]
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return f"movement check {self.service_user_id} {self.day}"
