"""Pages of the visit record: the printable monthly MAR chart and the two CSV downloads.

Thin adapters over ``careplan.access`` (the same decisions as the API: any refusal is a
404), ``careplan.wire`` and ``careplan.exports``; every read is audited. Templates live
with the other pages in ``web/templates/careplan/`` and extend ``web/base.html``.
``careplan`` must not import ``web`` (DESIGN.md §2), so the signed-in person and the
(short) navigation are looked up here.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from pydantic import Field, ValidationError, field_validator

from careplan import access, actions, exports, wire
from careplan.common import LOCAL_TZ, Text
from careplan.medicines import CODES, DOSE_REASONS, DoseRecordIn
from cocare_chat import clock
from rooms import audit
from rooms.errors import Conflict, Invalid, NotFound
from rooms.models import Person

NAV = [{"href": "/", "label": "Home", "key": "home"}]
OUTCOMES = {"given": "Given", "refused": "Refused", "not_given": "Not given", "missed": "Missed"}


def careplan_page(view):
    """Signed in and linked to a Person; every access refusal is the same 404 page."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        person = Person.objects.select_related("organisation").filter(user=request.user).first()
        try:
            return view(request, person, *args, **kwargs)
        except NotFound:
            raise Http404("Not found") from None

    return wrapper


def _render(request, person: Person, template: str, ctx: dict, status: int = 200) -> HttpResponse:
    return render(
        request, template, {"person": person, "nav": NAV, "active": "", **ctx}, status=status
    )


def _bad(exc: ValidationError) -> HttpResponseBadRequest:
    msg = "; ".join(
        f"{'.'.join(str(x) for x in e['loc']) or 'query'}: {e['msg']}" for e in exc.errors()[:5]
    )
    return HttpResponseBadRequest(f"Bad request: {msg}", content_type="text/plain")


def _month(value: str | None, now: dt.datetime) -> tuple[int, int] | None:
    if not value:
        local = now.astimezone(LOCAL_TZ)
        return local.year, local.month
    try:
        year, month = (int(x) for x in value.split("-"))
        dt.date(year, month, 1)
    except ValueError:
        return None
    return (year, month) if 2000 <= year < 2100 else None


def _shift(year: int, month: int, by: int) -> str:
    n = year * 12 + (month - 1) + by
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


@careplan_page
def mar_page(request, person, su_id: int):
    """The printable MAR chart of one person for one month (``?month=YYYY-MM``)."""
    su = access.access_record(person, su_id)
    ym = _month(request.GET.get("month"), clock.now())
    if ym is None or set(request.GET) - {"month"}:
        return HttpResponseBadRequest(
            "Bad request: month must be YYYY-MM (2000-2099).", content_type="text/plain"
        )
    year, month = ym
    return _mar(request, person, su, year, month)


def _mar(
    request, person: Person, su, year: int, month: int, *, error: str = "", status: int = 200
) -> HttpResponse:
    chart = wire.mar_wire(su, year, month)
    for c in chart["corrections"]:
        c["was_label"] = _outcome_label(c["was"], c["was_reason"])
        c["now_label"] = _outcome_label(c["now"], c["now_reason"])
        c["at_local"] = (
            dt.datetime.fromisoformat(c["at"]).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        )
    for r in chart["records"]:
        r["label"] = _outcome_label(r["outcome"], r["reason"])
        r["client_id"] = uuid.uuid4().hex  # one per form: a resubmitted form saves once
    audit.record(person, "mar.read", service_user=su, target=f"mar:{year:04d}-{month:02d}")
    first = dt.date(year, month, 1)
    days = [first + dt.timedelta(days=i) for i in range(chart["days"])]
    base = reverse("careplan:mar", args=[su.pk])
    return _render(
        request,
        person,
        "careplan/mar.html",
        {
            "su": su,
            "chart": chart,
            "days": days,
            "month": first,
            "now": clock.now(),
            "codes": CODES,
            "prev_url": f"{base}?month={_shift(year, month, -1)}",
            "next_url": f"{base}?month={_shift(year, month, 1)}",
            "json_url": f"/api/careplan/service-users/{su.pk}/mar?month={year:04d}-{month:02d}",
            "can_correct": access.can_correct(person, su),
            "outcomes": OUTCOMES,
            "dose_reasons": DOSE_REASONS,
            "month_key": f"{year:04d}-{month:02d}",
            "error": error,
        },
        status=status,
    )


def _outcome_label(outcome: str, reason: str | None) -> str:
    label = OUTCOMES.get(outcome, outcome)
    return f"{label} ({DOSE_REASONS.get(reason, reason)})" if reason else label


class CorrectionForm(DoseRecordIn):
    client_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    why: Text = Field(min_length=3, max_length=200)
    month: str = Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")

    @field_validator("reason", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if v == "" else v


@require_POST
@careplan_page
def mar_correct(request, person, su_id: int, record_id: int):
    """A care manager's correction from the MAR page (the API's ``correction``): the old
    record is superseded, never edited; back to the chart, which lists the correction."""
    su = access.access_record(person, su_id)
    fields = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    try:
        form = CorrectionForm.model_validate(fields)
    except ValidationError as exc:
        return _bad(exc)
    year, month = int(form.month[:4]), int(form.month[5:])
    rec = DoseRecordIn(outcome=form.outcome, reason=form.reason, note=form.note)
    try:
        record = access.access_dose_for_correction(person, record_id)
        if record.medicine.service_user_id != su.pk:
            access.refuse()
        actions.do_correct_dose(
            record, rec, by=person, why=form.why, client_id=form.client_id, now=clock.now()
        )
    except (Conflict, Invalid) as exc:
        return _mar(request, person, su, year, month, error=str(exc), status=409)
    base = reverse("careplan:mar", args=[su.pk])
    return HttpResponseRedirect(f"{base}?month={form.month}#corrections")


@careplan_page
def downloads_page(request, person):
    """Forms for the payroll and council downloads (what this person may download)."""
    workers = access.payroll_workers(person) if person else []
    councils = access.export_councils(person) if person else []
    if not workers and not councils:
        raise NotFound(access.NOT_FOUND)
    today = clock.now().astimezone(LOCAL_TZ).date()
    start = today.replace(day=1)
    return _render(
        request,
        person,
        "careplan/downloads.html",
        {
            "workers": workers,
            "councils": councils,
            "start": start,
            "end": today,
        },
    )


def _csv(text: str, filename: str) -> HttpResponse:
    resp = HttpResponse(text, content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp["Cache-Control"] = "no-store"
    return resp


def _period(request, id_field: str) -> tuple[int, exports.Period] | HttpResponseBadRequest:
    q = dict(request.GET.items())
    unknown = set(q) - {id_field, "start", "end"}
    if unknown:
        return HttpResponseBadRequest(
            f"Bad request: unknown parameter {sorted(unknown)[0][:40]}", content_type="text/plain"
        )
    try:
        period = exports.Period.model_validate({"start": q.get("start"), "end": q.get("end")})
        ident = exports.ExportTarget.model_validate({"id": q.get(id_field)}).id
    except ValidationError as exc:
        return _bad(exc)
    return ident, period


@careplan_page
def payroll_download(request, person):
    parsed = _period(request, "worker")
    if isinstance(parsed, HttpResponse):
        return parsed
    worker_id, period = parsed
    worker = access.access_payroll(person, worker_id)
    audit.record(person, "export.payroll", target=f"worker:{worker.pk}")
    return _csv(
        exports.payroll_csv(worker, period, clock.now()),
        f"payroll-{worker.pk}-{period.start}-{period.end}.csv",
    )


@careplan_page
def council_download(request, person):
    parsed = _period(request, "council")
    if isinstance(parsed, HttpResponse):
        return parsed
    council_id, period = parsed
    provider, council = access.access_council_export(person, council_id)
    audit.record(person, "export.council", target=f"council:{council.pk}")
    return _csv(
        exports.council_csv(provider, council, period, clock.now()),
        f"council-{council.pk}-{period.start}-{period.end}.csv",
    )
