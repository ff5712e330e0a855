"""The person's notifications page: this phone's push on/off, mute, quiet hours.

Push on/off is done in the browser (web/static/web/push.js: Firebase JS SDK → device
API). Mute and quiet hours are a plain form through ``escalation.preferences`` (the same
write path as ``PUT /api/push/preferences``).
"""

from __future__ import annotations

from django import forms
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import ensure_csrf_cookie
from pydantic import ValidationError

from cocare_chat.config import get_config
from escalation.preferences import (
    PushPreferenceIn,
    do_set_push_preference,
    preference_of,
    preference_wire,
)
from web.pages import page, person_page


class PreferenceForm(forms.Form):
    messages_muted = forms.BooleanField(
        label=gettext_lazy("Mute notifications for new messages"), required=False
    )
    quiet_from = forms.TimeField(
        label=gettext_lazy("Quiet from"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    quiet_until = forms.TimeField(
        label=gettext_lazy("Quiet until"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )


def firebase_web_config() -> dict | None:
    """The public Firebase web config, or None when push is not set up here."""
    c = get_config()
    values = (c.fcm_web_api_key, c.fcm_project_id, c.fcm_web_sender_id, c.fcm_web_app_id)
    if not all(values) or not c.fcm_web_vapid_key:
        return None
    return {
        "apiKey": c.fcm_web_api_key,
        "projectId": c.fcm_project_id,
        "messagingSenderId": c.fcm_web_sender_id,
        "appId": c.fcm_web_app_id,
    }


@person_page
@ensure_csrf_cookie
def notifications(request):
    person = request.person
    current = preference_wire(preference_of(person))
    form = PreferenceForm(request.POST or None, initial=current)
    saved = request.GET.get("saved") == "1"
    if request.method == "POST" and form.is_valid():
        try:
            data = PushPreferenceIn.model_validate(form.cleaned_data)
        except ValidationError as exc:
            form.add_error(
                None, "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            )
        else:
            do_set_push_preference(person, data)
            return redirect("/me/notifications/?saved=1")
    fb = firebase_web_config()
    push_config = {
        "configured": fb is not None,
        "me": person.id,
        "firebase": fb,
        "vapid_key": get_config().fcm_web_vapid_key if fb else None,
    }
    return page(
        request,
        "web/notifications.html",
        {"form": form, "push_config": push_config, "saved": saved},
        active="notifications",
    )
