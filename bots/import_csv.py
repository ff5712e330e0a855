"""Planned visits from a provider's CSV, by natural keys: preview, then all-or-nothing commit.

Columns (header row required, comma or semicolon separated, UTF-8 with or without BOM):
``service_user`` (the person's provider reference, ``ServiceUser.reference``), ``worker``
(the care worker's username or email), ``date`` (``YYYY-MM-DD`` or UK ``DD/MM/YYYY``),
``start`` and ``end`` (``HH:MM``, Europe/London), optional ``expected_minutes`` and
``notes``.

Guarantees:

- :func:`preview` writes nothing; every bad row is reported as (row, column, message),
  the row number being the line a spreadsheet shows (the header is row 1).
- :func:`commit` re-checks the file and writes either every new row or nothing (one
  transaction; a bad row or a slot conflict rolls everything back).
- Idempotent on the natural key (service user, worker, local start): a row already
  planned is counted as ``existing`` and not written again, so re-uploading a file is
  harmless. Each new row goes through :func:`bots.schedule.do_create_planned_visit`
  (its own audit event, timer column set).
- A worker or person of another provider is reported exactly like one that does not
  exist ("unknown ..."), so a file cannot probe another provider's staff or references.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from django.db import IntegrityError, transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bots.models import PlannedVisit
from bots.schedule import LOCAL_TZ, PlannedVisitIn, do_create_planned_visit
from cocare_chat import clock
from rooms.access import is_provider_manager
from rooms.errors import Conflict, Invalid, NotFound
from rooms.models import Person, Role, ServiceUser
from rooms.network import do_update_service_user

COLUMNS = ["service_user", "worker", "date", "start", "end", "expected_minutes", "notes"]
REQUIRED = ["service_user", "worker", "date", "start", "end"]
MAX_ROWS = 5000
MAX_BYTES = 1_000_000
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class RowError(BaseModel):
    row: int
    column: str
    message: str


class RowOk(BaseModel):
    row: int
    service_user_id: int
    service_user: str
    worker_id: int
    worker: str
    window_start: dt.datetime
    window_end: dt.datetime
    expected_minutes: int
    notes: str
    existing: bool


class Preview(BaseModel):
    rows: list[RowOk]
    errors: list[RowError]

    @property
    def new(self) -> int:
        return sum(not r.existing for r in self.rows)

    @property
    def existing(self) -> int:
        return sum(r.existing for r in self.rows)


class CommitResult(BaseModel):
    created: int
    existing: int


class CsvRowsInvalid(Invalid):
    """The file has bad rows; nothing was written."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(
            f"{len(errors)} row(s) need fixing; nothing was imported.", code="invalid_rows"
        )


def _date(v: str) -> dt.date:
    if m := _ISO_DATE.match(v):
        y, mo, d = (int(x) for x in m.groups())
    elif m := _UK_DATE.match(v):
        d, mo, y = (int(x) for x in m.groups())
    elif v.isdigit() or re.fullmatch(r"\d+\.\d+", v):
        raise ValueError(
            "looks like a spreadsheet date number; format the column as a date (YYYY-MM-DD)"
        )
    else:
        raise ValueError("use YYYY-MM-DD or DD/MM/YYYY")
    try:
        out = dt.date(y, mo, d)
    except ValueError:
        raise ValueError("no such date") from None
    if not 2000 <= out.year <= 2100:
        raise ValueError("the year must be between 2000 and 2100")
    return out


def _time(v: str) -> dt.time:
    m = _TIME.match(v)
    if not m:
        raise ValueError("use HH:MM (24-hour clock)")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError("no such time")
    return dt.time(h, mi, s)


def _reader(text: str) -> csv.reader:
    text = text.lstrip("\ufeff")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delim = ";" if first.count(";") > first.count(",") else ","
    return csv.reader(io.StringIO(text), delimiter=delim)


def _workers(provider_id: int) -> dict[str, Person]:
    """The provider's care workers by lower-cased username and email (nobody else's)."""
    out: dict[str, Person] = {}
    for p in Person.objects.filter(
        role=Role.CARE_WORKER, organisation_id=provider_id, user__isnull=False, user__is_active=True
    ).select_related("user"):
        out[p.user.username.lower()] = p
        if p.user.email:
            out.setdefault(p.user.email.lower(), p)
    return out


def preview(text: str, *, by: Person) -> Preview:
    """Check every row of ``text`` for ``by``'s provider; write nothing.

    ``by`` must be a care manager (else NotFound, the same as any refusal)."""
    if by.role != Role.CARE_MANAGER or by.organisation_id is None:
        raise NotFound("Not found.")
    errors: list[RowError] = []
    rows: list[RowOk] = []
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return Preview(rows=[], errors=[RowError(row=0, column="", message="file too large")])
    if "\x00" in text:
        return Preview(rows=[], errors=[RowError(row=0, column="", message="not a text file")])
    reader = _reader(text)
    header: list[str] | None = None
    header_row = 0
    for raw in reader:
        header_row = reader.line_num
        if any(c.strip() for c in raw):
            header = [c.strip().lower() for c in raw]
            break
    if header is None:
        return Preview(rows=[], errors=[RowError(row=1, column="", message="the file is empty")])
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    dup = sorted({c for c in header if header.count(c) > 1})
    if missing or unknown or dup:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s): {', '.join(c or '(blank)' for c in unknown)}")
        if dup:
            parts.append(f"repeated column(s): {', '.join(dup)}")
        msg = "; ".join(parts) + f". Expected: {', '.join(COLUMNS)}"
        return Preview(rows=[], errors=[RowError(row=header_row, column="header", message=msg)])
    provider_id = by.organisation_id
    workers = _workers(provider_id)
    sus = {
        su.reference.lower(): su
        for su in ServiceUser.objects.filter(provider_id=provider_id).exclude(reference="")
    }
    seen: dict[tuple[int, int, dt.datetime], int] = {}
    count = 0
    for raw in reader:
        rn = reader.line_num
        if not any(c.strip() for c in raw):
            continue  # blank line
        count += 1
        if count > MAX_ROWS:
            errors.append(
                RowError(row=rn, column="", message=f"more than {MAX_ROWS} rows; split the file")
            )
            break
        if len(raw) > len(header):
            errors.append(
                RowError(row=rn, column="", message=f"{len(raw)} fields, header has {len(header)}")
            )
            continue
        vals = {h: (raw[i].strip() if i < len(raw) else "") for i, h in enumerate(header)}
        row_errs: list[RowError] = []

        def bad(col: str, msg: str, rn: int = rn, row_errs: list[RowError] = row_errs) -> None:
            row_errs.append(RowError(row=rn, column=col, message=msg))

        for c in REQUIRED:
            if not vals.get(c):
                bad(c, "is empty")
        su = sus.get(vals["service_user"].lower()) if vals.get("service_user") else None
        if vals.get("service_user") and su is None:
            bad("service_user", f"unknown service user reference {vals['service_user'][:40]!r}")
        worker = workers.get(vals["worker"].lower()) if vals.get("worker") else None
        if vals.get("worker") and worker is None:
            bad("worker", f"unknown care worker {vals['worker'][:60]!r}")
        day = start = end = None
        for col, fn in (("date", _date), ("start", _time), ("end", _time)):
            if vals.get(col):
                try:
                    v = fn(vals[col])
                except ValueError as exc:
                    bad(col, f"{vals[col][:20]!r}: {exc}")
                    continue
                if col == "date":
                    day = v
                elif col == "start":
                    start = v
                else:
                    end = v
        minutes = None
        em = vals.get("expected_minutes", "")
        if em:
            if not em.isdigit() or not 5 <= int(em) <= 24 * 60:
                bad("expected_minutes", "a whole number of minutes between 5 and 1440")
            else:
                minutes = int(em)
        notes = vals.get("notes", "")
        if len(notes) > 300:
            bad("notes", "at most 300 characters")
        data = None
        if day and start and end and not row_errs:
            ws = dt.datetime.combine(day, start, tzinfo=LOCAL_TZ)
            we = dt.datetime.combine(day, end, tzinfo=LOCAL_TZ)
            if we <= ws:
                bad("end", "must be after start (a visit past midnight: split it)")
            else:
                try:
                    data = PlannedVisitIn(
                        worker_id=worker.id,  # type: ignore[union-attr]
                        window_start=ws,
                        window_end=we,
                        expected_minutes=minutes,
                        notes=notes,
                    )
                except ValidationError as exc:
                    bad("", "; ".join(e["msg"] for e in exc.errors()[:2]))
        if row_errs or data is None or su is None or worker is None:
            errors.extend(row_errs)
            continue
        key = (su.id, worker.id, data.window_start)
        if key in seen:
            bad("", f"the same visit as row {seen[key]}")
            errors.extend(row_errs)
            continue
        seen[key] = rn
        rows.append(
            RowOk(
                row=rn,
                service_user_id=su.id,
                service_user=su.reference,
                worker_id=worker.id,
                worker=worker.display_name,
                window_start=data.window_start,
                window_end=data.window_end,
                expected_minutes=data.minutes,
                notes=data.notes,
                existing=False,
            )
        )
    if count == 0 and not errors:
        errors.append(RowError(row=header_row, column="", message="no visits under the header"))
    if rows:
        existing = set(
            PlannedVisit.objects.filter(
                service_user_id__in={r.service_user_id for r in rows},
                window_start__in={r.window_start for r in rows},
            ).values_list("service_user_id", "worker_id", "window_start")
        )
        for r in rows:
            r.existing = (r.service_user_id, r.worker_id, r.window_start) in existing
    return Preview(rows=rows, errors=errors)


def commit(text: str, *, by: Person, now: dt.datetime | None = None) -> CommitResult:
    """Write every new row of ``text`` or nothing (see the module docstring).

    Raises CsvRowsInvalid (nothing written) when any row is bad, or Conflict when a row
    clashes with another visit planned for that worker at that time."""
    now = now or clock.now()
    pv = preview(text, by=by)
    if pv.errors:
        raise CsvRowsInvalid(pv.errors)
    created = existing = 0
    with transaction.atomic():
        sus = {
            su.id: su
            for su in ServiceUser.objects.filter(id__in={r.service_user_id for r in pv.rows})
        }
        for r in pv.rows:
            if PlannedVisit.objects.filter(
                service_user_id=r.service_user_id,
                worker_id=r.worker_id,
                window_start=r.window_start,
            ).exists():
                existing += 1
                continue
            do_create_planned_visit(
                sus[r.service_user_id],
                PlannedVisitIn(
                    worker_id=r.worker_id,
                    window_start=r.window_start,
                    window_end=r.window_end,
                    expected_minutes=r.expected_minutes,
                    notes=r.notes,
                ),
                by=by,
                now=now,
            )
            created += 1
    return CommitResult(created=created, existing=existing)


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: str = Field(max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$|^$")


def check_set_reference(
    actor: Person, su_id: int, data: ReferenceIn, *, now: dt.datetime | None = None
) -> ServiceUser:
    """Set the provider's reference for a person (the CSV's ``service_user`` column).

    Care managers of the person's provider only (else NotFound); unique within the
    provider (Conflict names the clash, which is the caller's own provider's data).
    Written through ``rooms.network.do_update_service_user`` (audited, field names only)."""
    su = ServiceUser.objects.filter(pk=su_id).first()
    if su is None or not is_provider_manager(actor, su):
        raise NotFound("Not found.")
    clash = (
        ServiceUser.objects.filter(provider_id=su.provider_id, reference__iexact=data.reference)
        .exclude(pk=su.pk)
        .exclude(reference="")
    )
    if data.reference and clash.exists():
        raise Conflict(f"Another person already has the reference {data.reference!r}.")
    try:
        with transaction.atomic():
            return do_update_service_user(su, by=actor, now=now, reference=data.reference)
    except IntegrityError:
        raise Conflict(f"Another person already has the reference {data.reference!r}.") from None
