"""Shared plumbing for pages: the signed-in person, navigation, and error mapping.

Authorisation is never decided here: views call ``rooms.access`` / ``escalation.access``
and this module only turns their NotFound / Forbidden into 404 / 403 pages.
"""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import render
from django.utils.translation import gettext as _

from rooms.errors import Forbidden, NotFound
from rooms.models import Person, Role

ALERT_ROLES = {Role.CARE_MANAGER, Role.COMMISSIONER, Role.ASSESSOR}


def nav(person: Person | None) -> list[dict]:
    """Top-level links for this person's role (pages re-check access themselves)."""
    if person is None:
        return []
    links = [{"href": "/", "label": _("Home"), "key": "home"}]
    if person.role in (Role.PROVIDER_ADMIN, Role.COUNCIL_ADMIN):
        links.append({"href": "/org/staff/", "label": _("Staff"), "key": "staff"})
        links.append({"href": "/audit/", "label": _("Audit"), "key": "audit"})
    if person.role in (Role.PROVIDER_ADMIN, Role.CARE_MANAGER):
        links.append(
            {"href": "/org/service-users/", "label": _("Service users"), "key": "service_users"}
        )
    if person.role in ALERT_ROLES:
        links.append({"href": "/alerts/", "label": _("Alerts"), "key": "alerts"})
    if person.role == Role.CARE_MANAGER:
        links.append({"href": "/exceptions/", "label": _("Exceptions"), "key": "exceptions"})
        links.append({"href": "/escalation/rota/", "label": _("On call"), "key": "escalation"})
        links.append(
            {"href": "/dashboards/provider/", "label": _("Dashboards"), "key": "dashboards"}
        )
        links.append({"href": "/bridge/", "label": _("Matrix"), "key": "bridge"})
        links.append({"href": "/planning/import/", "label": _("Import visits"), "key": "planning"})
        links.append({"href": "/retention/", "label": _("Retention"), "key": "retention"})
        links.append({"href": "/audit/", "label": _("Audit"), "key": "audit"})
    elif person.role == Role.COMMISSIONER:
        links.append(
            {"href": "/dashboards/council/", "label": _("Dashboards"), "key": "dashboards"}
        )
        links.append({"href": "/audit/", "label": _("Audit"), "key": "audit"})
    elif person.role == Role.ASSESSOR:
        links.append({"href": "/dashboards/", "label": _("My cases"), "key": "dashboards"})
    elif person.role == Role.SERVICE_USER and hasattr(person, "service_user_record"):
        links.append(
            {
                "href": f"/dashboards/service-user/{person.service_user_record.id}/",
                "label": _("My care"),
                "key": "dashboards",
            }
        )
    links.append(
        {"href": "/me/notifications/", "label": _("Notifications"), "key": "notifications"}
    )
    links.append({"href": "/me/settings/", "label": _("Settings"), "key": "settings"})
    return links


def page(request, template: str, ctx: dict, *, active: str = "", status: int = 200):
    person = getattr(request, "person", None)
    return render(
        request,
        template,
        {"person": person, "nav": nav(person), "active": active, **ctx},
        status=status,
    )


def person_page(view):
    """Signed in, linked to a Person (``request.person``); access errors become 404/403."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        request.person = (
            Person.objects.select_related("organisation").filter(user=request.user).first()
        )
        if request.person is None:
            return page(request, "web/unlinked.html", {}, status=403)
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404("Not found") from None
        except Forbidden as exc:
            return HttpResponseForbidden(exc.message)

    return wrapper
