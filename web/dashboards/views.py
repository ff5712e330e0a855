"""Dashboard pages, their JSON (live tiles) and CSV exports. Thin adapters: validate the
query string, ``access.authorise``, audit the read, run ``data``, render.

Every read — page, JSON poll or export — writes one ``rooms.audit`` event (who, which
dashboard, when; never a figure or a name).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from pydantic import ValidationError

from cocare_chat import clock
from rooms import audit
from rooms.access import allocated_service_users
from rooms.errors import CoCareError
from rooms.models import Person, Role, ServiceUser
from web.dashboards import data, exports
from web.dashboards import queries as q
from web.dashboards.access import Dashboard, authorise
from web.dashboards.periods import PERIODS, Filters, window
from web.pages import nav

DEFAULT_PERIOD = {Dashboard.SERVICE_USER: "1y", Dashboard.PROVIDER: "13w", Dashboard.COUNCIL: "13w"}


def _person(request) -> Person | None:
    return Person.objects.filter(user=request.user).select_related("organisation").first()


def _render(request, person: Person | None, template: str, ctx: dict, status: int = 200):
    """A dashboard page with the site's navigation and sign-out, as every other page has."""
    full = {"person": person, "nav": nav(person), "active": "dashboards", **ctx}
    return render(request, template, full, status=status)


def dashboard_view(fn):
    """Validate filters, turn access errors into 404/403 and bad input into a 400 page
    (with the navigation and a way back), never a bare text answer."""

    @login_required
    @wraps(fn)
    def wrapper(request, *args, **kwargs):
        person = _person(request)
        try:
            filters = Filters.model_validate(dict(request.GET.items()))
        except ValidationError as e:
            msg = "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or 'query'}: {err['msg']}"
                for err in e.errors()
            )
            if "text/html" not in request.headers.get("Accept", ""):
                return HttpResponseBadRequest(f"Bad filter: {msg}", content_type="text/plain")
            return _render(
                request,
                person,
                "web/dashboards/bad_filter.html",
                {"message": msg, "back": request.path},
                status=400,
            )
        try:
            return fn(request, person, filters, *args, **kwargs)
        except CoCareError as e:
            return HttpResponse(e.message, status=e.status, content_type="text/plain")

    return wrapper


def _periods(current: str) -> list[dict]:
    return [{"name": k, "label": v[2], "current": k == current} for k, v in PERIODS.items()]


def _csv(rows: list[list], filename: str) -> HttpResponse:
    resp = HttpResponse(exports.to_csv(rows), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp["Cache-Control"] = "no-store"
    return resp


def _read(person, grant, action: str) -> None:
    audit.record(person, action, service_user=grant.service_user, target=grant.audit_target)


# ---- service user ---------------------------------------------------------------------


def _su_grant(person, filters, su_id, dashboard=Dashboard.SERVICE_USER):
    if filters.provider is not None:
        raise CoCareError("provider: not a filter of this dashboard")
    return authorise(person, dashboard, service_user_id=su_id)


@dashboard_view
def service_user_page(request, person, filters, su_id: int):
    grant = _su_grant(person, filters, su_id)
    w = window(filters.period or DEFAULT_PERIOD[Dashboard.SERVICE_USER], clock.now())
    d = data.service_user(grant, w, clock.now())
    _read(person, grant, "dashboard.read")
    return _render(
        request,
        person,
        "web/dashboards/service_user.html",
        {
            "d": d,
            "grant": grant,
            "su": grant.service_user,
            "w": w,
            "periods": _periods(w.name),
            "live_url": reverse("dashboards:su-today", args=[su_id]),
            "csv_url": reverse("dashboards:su-csv", args=[su_id]) + f"?period={w.name}",
        },
    )


@dashboard_view
def service_user_today(request, person, filters, su_id: int):
    grant = _su_grant(person, filters, su_id)
    _read(person, grant, "dashboard.poll")
    return JsonResponse(q.today_visits(grant.scope, clock.now()))


@dashboard_view
def service_user_csv(request, person, filters, su_id: int):
    grant = _su_grant(person, filters, su_id)
    w = window(filters.period or DEFAULT_PERIOD[Dashboard.SERVICE_USER], clock.now())
    rows = exports.service_user_rows(data.service_user(grant, w, clock.now()))
    _read(person, grant, "dashboard.export")
    return _csv(rows, f"service-user-{su_id}-{w.name}.csv")


@dashboard_view
def summary_page(request, person, filters, su_id: int):
    grant = _su_grant(person, filters, su_id, Dashboard.SUMMARY)
    s = data.summary(grant, clock.now())
    _read(person, grant, "dashboard.read")
    return _render(
        request,
        person,
        "web/dashboards/summary.html",
        {"s": s, "su": grant.service_user, "grant": grant, "now": clock.now()},
    )


# ---- provider -------------------------------------------------------------------------


def _provider(request, person, filters):
    grant = authorise(person, Dashboard.PROVIDER, provider_id=filters.provider)
    w = window(filters.period or DEFAULT_PERIOD[Dashboard.PROVIDER], clock.now())
    return grant, w, data.provider(grant, w, clock.now())


@dashboard_view
def provider_page(request, person, filters):
    grant, w, d = _provider(request, person, filters)
    names = dict(
        ServiceUser.objects.filter(
            pk__in=[r["service_user_id"] for r in d["continuity"]["least_continuity"]],
            provider=grant.organisation,
        ).values_list("id", "full_name")
    )
    for r in d["continuity"]["least_continuity"]:
        r["name"] = names.get(r["service_user_id"], "")
    _read(person, grant, "dashboard.read")
    return _render(
        request,
        person,
        "web/dashboards/provider.html",
        {
            "d": d,
            "grant": grant,
            "w": w,
            "periods": _periods(w.name),
            "live_url": reverse("dashboards:provider-today"),
            "csv_url": reverse("dashboards:provider-csv") + f"?period={w.name}",
        },
    )


@dashboard_view
def provider_today(request, person, filters):
    grant = authorise(person, Dashboard.PROVIDER, provider_id=filters.provider)
    _read(person, grant, "dashboard.poll")
    return JsonResponse(q.today_visits(grant.scope, clock.now()))


@dashboard_view
def provider_csv(request, person, filters):
    grant, w, d = _provider(request, person, filters)
    _read(person, grant, "dashboard.export")
    return _csv(exports.provider_rows(d), f"provider-{grant.organisation.pk}-{w.name}.csv")


# ---- council --------------------------------------------------------------------------


def _council(person, filters):
    grant = authorise(person, Dashboard.COUNCIL, provider_id=filters.provider)
    w = window(filters.period or DEFAULT_PERIOD[Dashboard.COUNCIL], clock.now())
    return grant, w, data.council(grant, w, clock.now())


@dashboard_view
def council_page(request, person, filters):
    grant, w, d = _council(person, filters)
    _read(person, grant, "dashboard.read")
    providers = grant.organisation.providers.order_by("name").values("id", "name")
    qs = f"?period={w.name}" + (f"&provider={filters.provider}" if filters.provider else "")
    return _render(
        request,
        person,
        "web/dashboards/council.html",
        {
            "d": d,
            "grant": grant,
            "w": w,
            "periods": _periods(w.name),
            "providers": providers,
            "provider_filter": filters.provider,
            "csv_url": reverse("dashboards:council-csv") + qs,
        },
    )


@dashboard_view
def council_csv(request, person, filters):
    grant, w, d = _council(person, filters)
    _read(person, grant, "dashboard.export")
    return _csv(exports.council_rows(d), f"council-{grant.organisation.pk}-{w.name}.csv")


# ---- index ----------------------------------------------------------------------------


@login_required
def index(request):
    """Send each person to the dashboard their role has; list people for the care team."""
    person = _person(request)
    if person is None:
        return HttpResponse("No dashboard.", status=404, content_type="text/plain")
    if person.role == Role.COMMISSIONER:
        return redirect("dashboards:council")
    if person.role == Role.CARE_MANAGER:
        return redirect("dashboards:provider")
    if person.role == Role.SERVICE_USER and hasattr(person, "service_user_record"):
        return redirect("dashboards:service-user", person.service_user_record.pk)
    if person.role == Role.ASSESSOR:
        people = allocated_service_users(person).order_by("full_name")[:200]
        return _render(request, person, "web/dashboards/index.html", {"people": people})
    sus = (
        ServiceUser.objects.filter(
            rooms__memberships__person=person, rooms__memberships__removed_at__isnull=True
        )
        .distinct()
        .order_by("full_name")
    )
    visible = []
    for su in sus[:200]:
        try:
            authorise(person, Dashboard.SERVICE_USER, service_user_id=su.pk)
        except CoCareError:
            continue
        visible.append(su)
    return _render(request, person, "web/dashboards/index.html", {"people": visible})
