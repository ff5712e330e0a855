"""Matrix pages: link a Matrix account (your own, or a member's as their care manager),
and the bridge's status for care managers.

Thin adapters: ``bridge.linking`` authorises and acts (one 404 for every refusal),
``bridge.status_query`` scopes the status to the manager's provider.
"""

from __future__ import annotations

import dataclasses

from django import forms
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie

from bridge import conf
from bridge.conf import BridgeConfig
from bridge.linking import (
    CODE_DIGITS,
    access_link_target,
    check_confirm_link_code,
    check_request_link_code,
    check_unlink_matrix_id,
    pending_code,
)
from bridge.matrix import MatrixClient
from bridge.status_query import current_status, managed_rooms
from cocare_chat import clock
from rooms import access
from rooms.errors import CoCareError, NotFound
from rooms.models import Membership, Person, Room
from web.pages import page, person_page

# A person is waiting on the page while the homeserver is called.
DELIVERY_TIMEOUT = 10.0


class MatrixIdForm(forms.Form):
    matrix_id = forms.CharField(
        label="Matrix id",
        max_length=300,
        strip=False,
        widget=forms.TextInput(
            attrs={
                "placeholder": "@name:matrix.example.org",
                "autocomplete": "off",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


def _config() -> BridgeConfig | None:
    try:
        return conf.load()
    except ValueError:  # half configured: the bridge does not run
        return None


def _link_page(request, target: Person, *, back: str | None, own: bool):
    """GET shows the state; POST ``action`` = send | confirm | unlink, then redirects."""
    actor = request.person
    now = clock.now()
    id_form, code_form, error = MatrixIdForm(), CodeForm(), ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "send":
                id_form = MatrixIdForm(request.POST)
                if id_form.is_valid():
                    cfg = _config()
                    if cfg is not None:
                        cfg = cfg.model_copy(update={"http_timeout": DELIVERY_TIMEOUT})
                    client = MatrixClient(cfg) if cfg is not None else None
                    try:
                        check_request_link_code(
                            actor,
                            target.pk,
                            id_form.cleaned_data["matrix_id"],
                            cfg=cfg,
                            client=client,
                            now=now,
                        )
                    finally:
                        if client is not None:
                            client.close()
                    return redirect(request.path + "?sent=1")
            elif action == "confirm":
                code_form = CodeForm(request.POST)
                if code_form.is_valid():
                    check_confirm_link_code(
                        actor, target.pk, code_form.cleaned_data["code"], now=now
                    )
                    return redirect(request.path + "?linked=1")
            elif action == "unlink":
                check_unlink_matrix_id(actor, target.pk, now=now)
                return redirect(request.path + "?unlinked=1")
            else:
                raise NotFound("Not found.")
        except CoCareError as exc:
            if isinstance(exc, NotFound):
                raise
            error = exc.message
        target.refresh_from_db(fields=["matrix_id"])
    cfg = _config()
    return page(
        request,
        "bridge/matrix_link.html",
        {
            "target": target,
            "own": own,
            "back": back,
            "configured": cfg is not None,
            "bot_user_id": cfg.bot_user_id if cfg else "",
            "pending": pending_code(target, now),
            "id_form": id_form,
            "code_form": code_form,
            "error": error,
            "digits": CODE_DIGITS,
            "notice": {
                "sent": "Code sent.",
                "linked": "Matrix account linked.",
                "unlinked": "Matrix account unlinked.",
            }.get(next((k for k in ("sent", "linked", "unlinked") if k in request.GET), ""), ""),
        },
        active="matrix" if own else "home",
    )


@person_page
@ensure_csrf_cookie
def my_matrix(request):
    target = access_link_target(request.person, request.person.pk)
    return _link_page(request, target, back=None, own=True)


@person_page
@ensure_csrf_cookie
def member_matrix(request, su_id: int, person_id: int):
    """A care manager links a member of one of their provider's service user's rooms."""
    su = access.managed_service_users(request.person).filter(pk=su_id).first()
    if su is None:
        raise NotFound("No such person.")
    target = access_link_target(request.person, person_id)
    if not Membership.objects.filter(
        person=target, room__service_user=su, removed_at__isnull=True
    ).exists():
        raise NotFound("No such person.")
    return _link_page(
        request, target, back=reverse("members", args=[su.pk]), own=target.pk == request.person.pk
    )


@dataclasses.dataclass
class _Row:
    status: object
    name: str
    kind: str
    su_id: int


@person_page
def bridge_status(request):
    """The bridge's health over the manager's provider's rooms only."""
    rooms = managed_rooms(request.person)
    status = current_status(clock.now(), rooms=rooms)
    labels = {
        r.pk: r
        for r in Room.objects.filter(pk__in=[s.room_id for s in status.rooms]).select_related(
            "service_user"
        )
    }
    rows = [
        _Row(
            s,
            labels[s.room_id].service_user.name,
            labels[s.room_id].get_kind_display(),
            labels[s.room_id].service_user_id,
        )
        for s in status.rooms
    ]
    room_reasons = {r for s in status.rooms for r in s.reasons}
    return page(
        request,
        "bridge/status.html",
        {
            "status": status,
            "rows": rows,
            "general": [r for r in status.reasons if r not in room_reasons],
        },
        active="bridge",
    )
