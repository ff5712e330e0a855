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

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from pydantic import ValidationError

from careplan import access, exports, wire
from careplan.common import LOCAL_TZ
from careplan.medicines import CODES
from cocare_chat import clock
from rooms import audit
from rooms.errors import NotFound
from rooms.models import Person

NAV = [{"href": "/", "label": "Home", "key": "home"}]


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


def _render(request, person: Person, template: str, ctx: dict) -> HttpResponse:
    return render(request, template, {"person": person, "nav": NAV, "active": "", **ctx})


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
    chart = wire.mar_wire(su, year, month)
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
        },
    )


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
