"""Weekly visit patterns (the rota most providers keep) and the worker that plans from them.

``check_*`` authorise (care managers of the person's provider; anyone else: NotFound) and
write in one transaction with an audit event (``visit_pattern.create`` / ``.end``).
Changing a pattern ends it and creates its successor (:func:`check_replace_pattern`), so
a planned visit always names the pattern it came from.

:class:`PatternTicker` (the ``bots.patterns`` worker, in ``bots.runner.make_workers``)
plans each pattern's visits up to ``HORIZON_DAYS`` ahead. Timer column:
``VisitPattern.generated_until`` (the last local date planned); due patterns are claimed
with ``select_for_update(skip_locked=True)`` and advanced in the same transaction as their
visits. Idempotent on (pattern, date) — a unique constraint on ``PlannedVisit`` — and a
date already planned for that worker at that time (by hand or CSV) is left as it is.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bots.models import PlannedVisit, VisitPattern
from bots.schedule import LOCAL_TZ, PlannedVisitIn, _worker_for, do_create_planned_visit
from cocare_chat import clock
from rooms import audit
from rooms.access import is_provider_manager
from rooms.bounds import BoundedDate, Id
from rooms.errors import Conflict, Invalid, NotFound
from rooms.models import Person, ServiceUser

log = logging.getLogger(__name__)
HORIZON_DAYS = 14
WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class PatternIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    worker_id: Id
    weekdays: list[int] = Field(min_length=1, max_length=7)
    start_time: dt.time
    minutes: int = Field(ge=5, le=12 * 60)
    visit_type: str = Field(default="", max_length=60)
    starts_on: BoundedDate
    ends_on: BoundedDate | None = None

    @field_validator("weekdays")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in v):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(v))

    @field_validator("start_time")
    @classmethod
    def _naive(cls, v: dt.time) -> dt.time:
        if v.tzinfo is not None:
            raise ValueError("a local time without a zone (Europe/London)")
        return v.replace(microsecond=0)

    @model_validator(mode="after")
    def _window(self) -> PatternIn:
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        start = dt.datetime.combine(dt.date(2001, 1, 1), self.start_time)
        if (start + dt.timedelta(minutes=self.minutes)).date() != start.date():
            raise ValueError("a visit must end before midnight")
        return self


def local_today(now: dt.datetime) -> dt.date:
    return now.astimezone(LOCAL_TZ).date()


def _managed(actor: Person, su_id: int) -> ServiceUser:
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is None or not is_provider_manager(actor, su):
        raise NotFound("Not found.")
    return su


def _pattern_for(actor: Person, pattern_id: int) -> VisitPattern:
    p = VisitPattern.objects.select_related("service_user").filter(pk=pattern_id).first()
    if p is None or not is_provider_manager(actor, p.service_user):
        raise NotFound("Not found.")
    return p


def patterns_for(actor: Person, su_id: int) -> tuple[ServiceUser, list[VisitPattern]]:
    su = _managed(actor, su_id)
    return su, list(
        VisitPattern.objects.filter(service_user=su)
        .select_related("worker")
        .order_by("ended_at", "start_time", "id")
    )


def check_create_pattern(
    actor: Person, su_id: int, data: PatternIn, *, now: dt.datetime | None = None
) -> VisitPattern:
    su = _managed(actor, su_id)
    now = now or clock.now()
    worker = _worker_for(su, data.worker_id)
    today = local_today(now)
    with transaction.atomic():
        p = VisitPattern.objects.create(
            service_user=su,
            worker=worker,
            weekdays="".join(str(d) for d in data.weekdays),
            start_time=data.start_time,
            minutes=data.minutes,
            visit_type=data.visit_type,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            # Nothing before today is planned from a pattern: due at once.
            generated_until=max(data.starts_on, today) - dt.timedelta(days=1),
            created_by=actor,
            created_at=now,
        )
        audit.record(
            actor, "visit_pattern.create", service_user=su, target=f"pattern:{p.id}", now=now
        )
    return p


def _end(p: VisitPattern, actor: Person, now: dt.datetime) -> int:
    """End ``p`` today: visits it planned that have not started are cancelled."""
    today = local_today(now)
    p.ends_on = today if p.ends_on is None or p.ends_on > today else p.ends_on
    p.ended_at = now
    p.save(update_fields=["ends_on", "ended_at"])
    n = PlannedVisit.objects.filter(
        pattern=p, window_start__gt=now, status=PlannedVisit.Status.PLANNED, visit__isnull=True
    ).update(status=PlannedVisit.Status.CANCELLED, updated_at=now)
    audit.record(
        actor,
        "visit_pattern.end",
        service_user=p.service_user,
        target=f"pattern:{p.id}|cancelled:{n}",
        now=now,
    )
    return n


def check_end_pattern(actor: Person, pattern_id: int, *, now: dt.datetime | None = None) -> int:
    """End a pattern (idempotent: an ended pattern is left as it is). Returns how many
    future planned visits were cancelled."""
    now = now or clock.now()
    with transaction.atomic():
        p = _pattern_for(actor, pattern_id)
        p = VisitPattern.objects.select_for_update().select_related("service_user").get(pk=p.pk)
        if p.ended_at is not None:
            return 0
        return _end(p, actor, now)


def check_replace_pattern(
    actor: Person, pattern_id: int, data: PatternIn, *, now: dt.datetime | None = None
) -> VisitPattern:
    """Edit = end this pattern now and start its successor with ``data``."""
    now = now or clock.now()
    with transaction.atomic():
        old = _pattern_for(actor, pattern_id)
        old = VisitPattern.objects.select_for_update().select_related("service_user").get(pk=old.pk)
        if old.ended_at is not None:
            raise Invalid("This pattern has ended; start a new one.")
        _end(old, actor, now)
        return check_create_pattern(actor, old.service_user_id, data, now=now)


def dates_to_plan(p: VisitPattern, until: dt.date) -> list[dt.date]:
    """Local dates after ``generated_until`` up to ``until`` on the pattern's weekdays."""
    days = {int(c) for c in p.weekdays}
    d = max(p.generated_until + dt.timedelta(days=1), p.starts_on)
    last = min(until, p.ends_on) if p.ends_on else until
    out = []
    while d <= last:
        if d.weekday() in days:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


class PatternTicker:
    """Plans visits from weekly patterns up to ``HORIZON_DAYS`` ahead (module docstring)."""

    name = "bots.patterns"
    batch_size = 50

    def run_once(self, now: dt.datetime) -> int:
        horizon = local_today(now) + dt.timedelta(days=HORIZON_DAYS)
        done = 0
        with transaction.atomic():
            due = list(
                VisitPattern.objects.select_for_update(skip_locked=True)
                .filter(ended_at__isnull=True, generated_until__lt=horizon)
                .filter(Q(ends_on__isnull=True) | Q(ends_on__gt=F("generated_until")))
                .select_related("service_user")
                .order_by("generated_until", "id")[: self.batch_size]
            )
            for p in due:
                try:
                    with transaction.atomic():
                        n = sum(self._plan(p, day, now) for day in dates_to_plan(p, horizon))
                        p.generated_until = horizon
                        p.save(update_fields=["generated_until"])
                except Exception as exc:
                    # One broken pattern must not stop the others; it stays due (and shows
                    # in `manage.py health` as not planned ahead). The type only, no text.
                    log.error("pattern %s failed: %s", p.pk, type(exc).__name__)
                    continue
                done += n
        return done

    def _plan(self, p: VisitPattern, day: dt.date, now: dt.datetime) -> int:
        start = dt.datetime.combine(day, p.start_time, tzinfo=LOCAL_TZ)
        data = PlannedVisitIn(
            worker_id=p.worker_id,
            window_start=start,
            window_end=start + dt.timedelta(minutes=p.minutes),
            notes=p.visit_type,
        )
        if PlannedVisit.objects.filter(pattern=p, pattern_date=day).exists():
            return 0
        if PlannedVisit.objects.filter(
            service_user=p.service_user, worker_id=p.worker_id, window_start=data.window_start
        ).exists():
            return 0  # already planned by hand or CSV
        try:
            with transaction.atomic():
                do_create_planned_visit(
                    p.service_user, data, by=None, now=now, pattern=p, pattern_date=day
                )
        except (IntegrityError, Conflict, Invalid):
            # A worker who left the provider: the date is skipped, not retried forever;
            # the manager sees no visit planned on the person's visits page.
            return 0
        return 1
