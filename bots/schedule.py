"""Planned visits and goals: validated writes, and an all-or-nothing CSV import.

``do_*`` write (the caller authorised); ``check_*`` authorise through ``rooms.access``
then call ``do_*``. Every write runs in one transaction; a bad CSV row means nothing is
written and every bad row is reported with its line number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bots.models import Goal, PlannedVisit, VisitPattern
from cocare_chat import clock
from cocare_chat.config import get_config
from rooms import audit
from rooms.access import is_provider_manager
from rooms.bounds import BoundedDate, BoundedDatetime, Id
from rooms.errors import Conflict, Invalid, NotFound
from rooms.models import Person, Role, ServiceUser

LOCAL_TZ = ZoneInfo("Europe/London")
CSV_COLUMNS = ["service_user_id", "worker_id", "date", "start", "end", "expected_minutes"]
MAX_ROWS = 20_000


class PlannedVisitIn(BaseModel):
    """A planned visit from the API, the visits page or a CSV row. Times are bounded to
    2000-2100 (rooms/bounds.py): one row stored as year 1 stopped the missed-visit ticker
    for every provider. A naive time is Europe/London."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    worker_id: Id
    window_start: BoundedDatetime
    window_end: BoundedDatetime
    expected_minutes: int | None = Field(default=None, ge=5, le=24 * 60)
    notes: str = Field(default="", max_length=300)

    @model_validator(mode="after")
    def _order(self) -> PlannedVisitIn:
        for f in ("window_start", "window_end"):
            if getattr(self, f).tzinfo is None:
                setattr(self, f, getattr(self, f).replace(tzinfo=LOCAL_TZ))
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.window_end - self.window_start > dt.timedelta(hours=24):
            raise ValueError("a visit window cannot be longer than 24 hours")
        return self

    @property
    def minutes(self) -> int:
        if self.expected_minutes is not None:
            return self.expected_minutes
        return int((self.window_end - self.window_start).total_seconds() // 60)


class CsvRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    service_user_id: Id
    worker_id: Id
    date: BoundedDate
    start: dt.time
    end: dt.time
    expected_minutes: int | None = Field(default=None, ge=5, le=24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_none(cls, data):
        if isinstance(data, dict) and data.get("expected_minutes") in ("", None):
            data = {**data, "expected_minutes": None}
        return data

    def visit(self) -> PlannedVisitIn:
        start = dt.datetime.combine(self.date, self.start, tzinfo=LOCAL_TZ)
        end = dt.datetime.combine(self.date, self.end, tzinfo=LOCAL_TZ)
        return PlannedVisitIn(
            worker_id=self.worker_id,
            window_start=start,
            window_end=end,
            expected_minutes=self.expected_minutes,
        )


def missed_check_at(window_end: dt.datetime) -> dt.datetime:
    return window_end + dt.timedelta(minutes=get_config().bots_missed_visit_grace_minutes)


def _worker_for(su: ServiceUser, worker_id: int) -> Person:
    w = Person.objects.filter(pk=worker_id).first()
    if w is None or w.role != Role.CARE_WORKER:
        raise Invalid(f"worker {worker_id} is not a care worker")
    if w.organisation_id != su.provider_id:
        raise Invalid(f"worker {worker_id} does not work for {su.name}'s provider")
    return w


def _service_user_for_manager(actor: Person | None, su_id: int) -> ServiceUser:
    """The service user if ``actor`` manages them (None: an internal caller).

    Missing, another provider's, or not this person's to manage: the same NotFound, so
    ids cannot be probed (docs/security.md).
    """
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is None or (actor is not None and not is_provider_manager(actor, su)):
        raise NotFound("No such person.")
    return su


def do_create_planned_visit(
    su: ServiceUser,
    data: PlannedVisitIn,
    *,
    by: Person | None = None,
    now: dt.datetime | None = None,
    pattern: VisitPattern | None = None,
    pattern_date: dt.date | None = None,
) -> PlannedVisit:
    now = now or clock.now()
    worker = _worker_for(su, data.worker_id)
    try:
        with transaction.atomic():
            pv = PlannedVisit.objects.create(
                service_user=su,
                worker=worker,
                window_start=data.window_start,
                window_end=data.window_end,
                expected_minutes=data.minutes,
                notes=data.notes,
                missed_check_at=missed_check_at(data.window_end),
                created_by=by,
                created_at=now,
                updated_at=now,
                pattern=pattern,
                pattern_date=pattern_date,
            )
            audit.record(
                by, "planned_visit.create", service_user=su, target=f"planned:{pv.id}", now=now
            )
    except IntegrityError:
        raise Conflict("That worker already has a visit planned at that time.") from None
    return pv


def check_create_planned_visit(actor: Person, su_id: int, data: PlannedVisitIn) -> PlannedVisit:
    su = _service_user_for_manager(actor, su_id)
    return do_create_planned_visit(su, data, by=actor)


def _planned_for_manager(actor: Person, pv_id: int) -> PlannedVisit:
    pv = PlannedVisit.objects.select_related("service_user").filter(pk=pv_id).first()
    if pv is None or not is_provider_manager(actor, pv.service_user):
        raise NotFound("No such planned visit.")
    return pv


def check_update_planned_visit(actor: Person, pv_id: int, data: PlannedVisitIn) -> PlannedVisit:
    """Move or reassign a planned visit that has not happened yet."""
    now = clock.now()
    with transaction.atomic():
        pv = _planned_for_manager(actor, pv_id)
        pv = PlannedVisit.objects.select_for_update().get(pk=pv.pk)
        if hasattr(pv, "visit"):
            raise Conflict("This visit already happened; it can no longer be changed.")
        pv.worker = _worker_for(pv.service_user, data.worker_id)
        pv.window_start, pv.window_end = data.window_start, data.window_end
        pv.expected_minutes = data.minutes
        pv.notes = data.notes
        pv.missed_check_at = missed_check_at(data.window_end)
        pv.missed_flagged_at = None if pv.missed_check_at > now else pv.missed_flagged_at
        pv.updated_at = now
        try:
            with transaction.atomic():
                pv.save()
        except IntegrityError:
            raise Conflict("That worker already has a visit planned at that time.") from None
        audit.record(
            actor,
            "planned_visit.update",
            service_user=pv.service_user,
            target=f"planned:{pv.id}",
            now=now,
        )
    return pv


def check_cancel_planned_visit(actor: Person, pv_id: int) -> PlannedVisit:
    now = clock.now()
    with transaction.atomic():
        pv = _planned_for_manager(actor, pv_id)
        PlannedVisit.objects.filter(pk=pv.pk).update(
            status=PlannedVisit.Status.CANCELLED, updated_at=now
        )
        audit.record(
            actor,
            "planned_visit.cancel",
            service_user=pv.service_user,
            target=f"planned:{pv.id}",
            now=now,
        )
        pv.refresh_from_db()
    return pv


# ---- CSV import ----------------------------------------------------------------------------


class ImportResult(BaseModel):
    created: int
    skipped_existing: int


class CsvImportError(Invalid):
    """Row-level errors; nothing was written."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(
            "; ".join(errors[:20]) + (" …" if len(errors) > 20 else ""), code="invalid_rows"
        )


def _errs(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()[:3]
    )


def import_planned_visits(
    text: str, *, by: Person | None = None, now: dt.datetime | None = None
) -> ImportResult:
    """Import planned visits from CSV (columns: ``CSV_COLUMNS``; local date and times).

    All or nothing: any bad row raises ``CsvImportError`` listing every bad row by line
    number, and nothing is written. Rows already planned (same person, worker and start)
    are skipped, so importing the same file twice is harmless. With ``by`` set, every
    row must be for a service user of ``by``'s provider.
    """
    now = now or clock.now()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    required = [c for c in CSV_COLUMNS if c != "expected_minutes"]
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        raise CsvImportError(
            [
                f"line 1: header: missing {missing or 'nothing'}, "
                f"unknown {unknown or 'nothing'}; expected {CSV_COLUMNS}"
            ]
        )
    errors: list[str] = []
    parsed: list[tuple[int, ServiceUser, Person, PlannedVisitIn]] = []
    sus: dict[int, ServiceUser | None] = {}
    seen: set[tuple[int, int, dt.datetime]] = set()
    for i, raw in enumerate(reader, start=2):
        if i - 1 > MAX_ROWS:
            errors.append(f"line {i}: more than {MAX_ROWS} rows; split the file")
            break
        row = {k.strip(): (v or "") for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append(f"line {i}: too many fields")
            continue
        try:
            r = CsvRow.model_validate(row)
            data = r.visit()
        except ValidationError as exc:
            errors.append(f"line {i}: {_errs(exc)}")
            continue
        if r.service_user_id not in sus:
            sus[r.service_user_id] = ServiceUser.objects.filter(pk=r.service_user_id).first()
        su = sus[r.service_user_id]
        if su is None or (by is not None and not is_provider_manager(by, su)):
            errors.append(f"line {i}: service_user_id: no such person in your service")
            continue
        try:
            worker = _worker_for(su, r.worker_id)
        except Invalid as exc:
            errors.append(f"line {i}: worker_id: {exc.message}")
            continue
        key = (su.id, worker.id, data.window_start)
        if key in seen:
            errors.append(f"line {i}: the same visit appears twice in the file")
            continue
        seen.add(key)
        parsed.append((i, su, worker, data))
    if errors:
        raise CsvImportError(errors)
    created = skipped = 0
    with transaction.atomic():
        existing = set(
            PlannedVisit.objects.filter(
                service_user_id__in={su.id for _, su, _, _ in parsed},
                window_start__in={d.window_start for *_, d in parsed},
            ).values_list("service_user_id", "worker_id", "window_start")
        )
        rows = []
        for _, su, worker, d in parsed:
            if (su.id, worker.id, d.window_start) in existing:
                skipped += 1
                continue
            rows.append(
                PlannedVisit(
                    service_user=su,
                    worker=worker,
                    window_start=d.window_start,
                    window_end=d.window_end,
                    expected_minutes=d.minutes,
                    missed_check_at=missed_check_at(d.window_end),
                    created_by=by,
                    created_at=now,
                    updated_at=now,
                )
            )
        PlannedVisit.objects.bulk_create(rows, batch_size=1000)
        created = len(rows)
        audit.record(by, "planned_visit.import", target=f"rows:{created}", now=now)
    return ImportResult(created=created, skipped_existing=skipped)


# ---- goals ---------------------------------------------------------------------------------


class GoalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: str = Field(min_length=3, max_length=200)


def check_add_goal(actor: Person, su_id: int, data: GoalIn) -> Goal:
    su = _service_user_for_manager(actor, su_id)
    now = clock.now()
    with transaction.atomic():
        g = Goal.objects.create(service_user=su, text=data.text, created_by=actor, created_at=now)
        audit.record(actor, "goal.create", service_user=su, target=f"goal:{g.id}", now=now)
    return g


def check_end_goal(actor: Person, goal_id: int, *, achieved: bool) -> Goal:
    g = Goal.objects.select_related("service_user").filter(pk=goal_id).first()
    if g is None or not is_provider_manager(actor, g.service_user):
        raise NotFound("No such goal.")
    now = clock.now()
    with transaction.atomic():
        g.active = False
        g.achieved_at = now if achieved else None
        g.save(update_fields=["active", "achieved_at"])
        audit.record(actor, "goal.end", service_user=g.service_user, target=f"goal:{g.id}", now=now)
    return g
