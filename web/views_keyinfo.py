"""The key-information page: the current values, their history, and (for the
provider's care manager) the edit form. Authorised by ``rooms.keyinfo``; refusals are
the page's 404. Reads are audited (``key_info.read``), never with content."""

from __future__ import annotations

from django import forms
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.csrf import ensure_csrf_cookie
from pydantic import ValidationError

from rooms import access, audit
from rooms.errors import CoCareError, NotFound
from rooms.keyinfo import (
    LABELS,
    KeyInfoIn,
    access_key_info,
    access_key_info_editor,
    check_update_key_info,
    current_version,
    versions,
)
from web.pages import page, person_page


class KeyInfoForm(forms.Form):
    preferences = forms.CharField(
        label="Preferences", max_length=4000, required=False, widget=forms.Textarea({"rows": 2})
    )
    what_matters = forms.CharField(
        label="What matters to them",
        max_length=4000,
        required=False,
        widget=forms.Textarea({"rows": 2}),
    )
    communication_needs = forms.CharField(
        label="Communication needs",
        max_length=4000,
        required=False,
        widget=forms.Textarea({"rows": 2}),
    )
    access_notes = forms.CharField(
        label="Access (key safe, parking, pets)",
        max_length=4000,
        required=False,
        widget=forms.Textarea({"rows": 2}),
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)


@person_page
@ensure_csrf_cookie
def key_info(request, su_id: int):
    person = request.person
    if request.method == "POST":
        su = access_key_info_editor(person, su_id)
    else:
        su = access_key_info(person, su_id)
    manage = access.is_provider_manager(person, su)
    form = KeyInfoForm(request.POST or None) if manage else None
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            check_update_key_info(person, su.id, KeyInfoIn(**form.cleaned_data))
        except ValidationError as exc:
            form.add_error(None, "; ".join(e["msg"] for e in exc.errors()))
        except CoCareError as exc:
            if isinstance(exc, NotFound):
                raise
            form.add_error(None, exc.message)
        else:
            return redirect(reverse("key_info", args=[su.id]) + "?saved=1")
    su.refresh_from_db()
    if manage and request.method != "POST":
        form = KeyInfoForm(
            initial={
                **{f: getattr(su, f) for f in LABELS},
                "expected_version": current_version(su),
            }
        )
    audit.record(person, "key_info.read", service_user=su)
    history = [
        {
            "v": v,
            "changed": [gettext(LABELS[f]) for f in v.changed_fields.split(",") if f in LABELS],
            "values": [(gettext(LABELS[f]), getattr(v, f)) for f in LABELS],
        }
        for v in versions(su)
    ]
    return page(
        request,
        "web/key_info.html",
        {
            "su": su,
            "manage": manage,
            "form": form,
            "current": [(gettext(LABELS[f]), getattr(su, f)) for f in LABELS],
            "history": history,
            "saved": request.GET.get("saved") == "1",
        },
        active="home",
    )
