"""The movement ticker: fires "no movement by HH:MM" checks whose time has come.

Timers are columns (DESIGN.md §3.5): each person with a movement time has one pending
``MovementCheck`` row with a ``due_at``. :meth:`MovementTicker.run_once`

1. claims due rows one at a time with ``select_for_update(skip_locked=True)`` (PostgreSQL:
   two tickers take different rows; SQLite serialises writers) and re-reads ``state``, so a
   check is evaluated once;
2. looks for movement (``sensors.movement``) in the check's window; with none, writes a
   ``{"signal": "sensor", "data": {"kind": "no_movement", ...}}`` entry in the
   professional room through ``post_message`` with ``client_id``
   ``sensor-nomove:<service user>:<day>`` — keyed, so a replay writes nothing — and the
   family notice if the person agreed to it; the escalation engine turns the signal
   into an alert;
3. schedules the next day's row in the same transaction, so nothing lives in memory and
   a killed ticker's successor carries on from the rows (catching up on missed days).

People with a movement time but no pending row (new, or their time just changed) are
given one; a row that keeps failing is retried three times, then marked ``failed`` and
skipped, so one bad row never stops the others.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Exists, F, OuterRef

from rooms.messages import post_message
from rooms.models import Message, Room
from rooms.network import system_person
from sensors.family import local_tz, notice_for
from sensors.models import MovementCheck, SensorDevice, SensorEvent, SensorProfile
from sensors.movement import MOVEMENT_DEVICE_KINDS, first_day, movement_q, window_for
from sensors.schemas import SensorSignal

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
SEED_EVERY = dt.timedelta(seconds=60)


def has_movement_sensor(service_user_id: int) -> bool:
    return SensorDevice.objects.filter(
        hub__service_user_id=service_user_id,
        hub__active=True,
        active=True,
        kind__in=MOVEMENT_DEVICE_KINDS,
    ).exists()


def schedule(profile: SensorProfile, day: dt.date) -> MovementCheck | None:
    """The pending check of ``day`` for the profile's person (idempotent on the day)."""
    if profile.movement_expected_by is None:
        return None
    start, due = window_for(day, profile.movement_from, profile.movement_expected_by, local_tz())
    check, _ = MovementCheck.objects.get_or_create(
        service_user_id=profile.service_user_id,
        day=day,
        defaults={"window_start": start, "due_at": due},
    )
    return check


class MovementTicker:
    name = "sensors.movement"
    batch_size = 50

    def __init__(self) -> None:
        self._seeded_at: dt.datetime | None = None  # a throttle only; the rows are the state

    def run_once(self, now: dt.datetime) -> int:
        done = 0
        if self._seeded_at is None or now - self._seeded_at >= SEED_EVERY or now < self._seeded_at:
            done += self.seed(now)
            self._seeded_at = now
        return done + self.fire_due(now)

    def seed(self, now: dt.datetime) -> int:
        """Give every person with a movement time and a movement sensor a pending check."""
        pending = MovementCheck.objects.filter(
            service_user=OuterRef("service_user"), state=MovementCheck.State.PENDING
        )
        sensors = SensorDevice.objects.filter(
            hub__service_user=OuterRef("service_user"),
            hub__active=True,
            active=True,
            kind__in=MOVEMENT_DEVICE_KINDS,
        )
        made = 0
        for profile in (
            SensorProfile.objects.filter(movement_expected_by__isnull=False)
            .filter(Exists(sensors))
            .exclude(Exists(pending))[:500]
        ):
            day = first_day(now, profile.movement_expected_by, local_tz())
            with transaction.atomic():
                check = schedule(profile, day)
                if check is not None and check.state != MovementCheck.State.PENDING:
                    schedule(profile, day + dt.timedelta(days=1))  # today's already done
            made += 1
        return made

    def fire_due(self, now: dt.datetime) -> int:
        ids = list(
            MovementCheck.objects.filter(state=MovementCheck.State.PENDING, due_at__lte=now)
            .order_by("due_at", "id")
            .values_list("id", flat=True)[: self.batch_size]
        )
        done = 0
        for check_id in ids:
            try:
                with transaction.atomic():
                    check = (
                        MovementCheck.objects.select_for_update(skip_locked=True)
                        .filter(pk=check_id, state=MovementCheck.State.PENDING, due_at__lte=now)
                        .first()
                    )
                    if check is None:
                        continue
                    self.evaluate(check, now)
                    done += 1
            except Exception as exc:
                # Type and id only: nothing of the record goes to the log.
                log.warning("movement check %s failed: %s", check_id, type(exc).__name__)
                MovementCheck.objects.filter(pk=check_id).update(attempts=F("attempts") + 1)
                MovementCheck.objects.filter(
                    pk=check_id, attempts__gte=MAX_ATTEMPTS, state=MovementCheck.State.PENDING
                ).update(state=MovementCheck.State.FAILED, checked_at=now)
        return done

    def evaluate(self, check: MovementCheck, now: dt.datetime) -> None:
        """Decide one claimed check and schedule the next (caller holds the row lock)."""
        su_id = check.service_user_id
        if not has_movement_sensor(su_id):
            check.state = MovementCheck.State.SKIPPED
        elif SensorEvent.objects.filter(
            movement_q(),
            service_user_id=su_id,
            occurred_at__gte=check.window_start,
            occurred_at__lt=check.due_at,
        ).exists():
            check.state = MovementCheck.State.OK
        else:
            check.message = self._raise(check, now)
            check.state = MovementCheck.State.RAISED
        check.checked_at = now
        check.save(update_fields=["state", "checked_at", "message"])
        profile = SensorProfile.objects.filter(service_user_id=su_id).first()
        if profile is not None:
            schedule(profile, check.day + dt.timedelta(days=1))

    def _raise(self, check: MovementCheck, now: dt.datetime) -> Message:
        rooms = {r.kind: r for r in Room.objects.filter(service_user_id=check.service_user_id)}
        data = SensorSignal(
            kind="no_movement",
            value=0,
            occurred_at=check.due_at,
            window_start=check.window_start,
        ).model_dump(mode="json", exclude_none=True)
        day = check.day.isoformat()
        msg = post_message(
            room=rooms[Room.Kind.PROFESSIONAL],
            sender=system_person(),
            kind=Message.Kind.SIGNAL,
            payload={"signal": "sensor", "data": data},
            client_id=f"sensor-nomove:{check.service_user_id}:{day}",
            now=now,
        ).message
        shared = (
            SensorProfile.objects.filter(service_user_id=check.service_user_id)
            .values_list("family_notices", flat=True)
            .first()
            or []
        )
        text = notice_for("no_movement", list(shared), check.due_at)
        if text:
            post_message(
                room=rooms[Room.Kind.FAMILY],
                sender=system_person(),
                kind=Message.Kind.SYSTEM,
                body=text,
                payload={"event": "sensor.family_notice", "data": {"notice": "no_movement"}},
                client_id=f"sensor-nomove-family:{check.service_user_id}:{day}",
                now=now,
            )
        return msg
