"""Escalation set-up pages for a provider's care managers: the on-call rota and the
escalation policy with a preview (``escalation.setup``; refusals are the page's 404)."""

from __future__ import annotations

import datetime as dt

import yaml
from django import forms
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from bots.schedule import LOCAL_TZ
from cocare_chat import clock
from escalation.access import access_provider_setup
from escalation.directory import policy_for
from escalation.models import ProviderPolicy
from escalation.setup import (
    ShiftIn,
    access_preview_service_user,
    check_add_shift,
    check_remove_shift,
    check_reset_policy,
    check_set_policy,
    preview,
    rota,
    rota_people,
    validate_policy,
)
from rooms.access import managed_service_users
from rooms.errors import CoCareError, NotFound
from web.forms import bounded_date
from web.pages import page, person_page

SEVERITIES = [
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("safeguarding", "Safeguarding"),
]
MAX_POLICY_TEXT = 20_000


class ShiftForm(forms.Form):
    person = forms.TypedChoiceField(label="Care manager", coerce=int)
    role = forms.ChoiceField(label="Role", choices=[("primary", "On call"), ("deputy", "Deputy")])
    start_date = forms.DateField(
        label="From (date)", widget=forms.DateInput({"type": "date"}), validators=[bounded_date]
    )
    start_time = forms.TimeField(label="From (time)", widget=forms.TimeInput({"type": "time"}))
    end_date = forms.DateField(
        label="Until (date)", widget=forms.DateInput({"type": "date"}), validators=[bounded_date]
    )
    end_time = forms.TimeField(label="Until (time)", widget=forms.TimeInput({"type": "time"}))

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [(p.id, p.display_name) for p in people]


@person_page
@ensure_csrf_cookie
def rota_page(request):
    person = request.person
    provider = access_provider_setup(person)
    people = list(rota_people(provider.id))
    form = ShiftForm(request.POST or None, people=people)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            check_add_shift(
                person,
                ShiftIn(
                    person=d["person"],
                    role=d["role"],
                    starts_at=dt.datetime.combine(d["start_date"], d["start_time"], LOCAL_TZ),
                    ends_at=dt.datetime.combine(d["end_date"], d["end_time"], LOCAL_TZ),
                ),
            )
        except ValidationError as exc:
            form.add_error(
                None, "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            )
        except CoCareError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect(reverse("escalation_rota") + "?saved=1")
    now = clock.now()
    return page(
        request,
        "web/escalation_rota.html",
        {
            "provider": provider,
            "shifts": [{"s": s, "now": s.starts_at <= now} for s in rota(provider.id, now)],
            "form": form,
            "saved": request.GET.get("saved") == "1",
        },
        active="escalation",
    )


@require_POST
@person_page
def rota_remove(request, shift_id: int):
    check_remove_shift(request.person, shift_id)
    return redirect(reverse("escalation_rota") + "?saved=1")


def _policy_text(policy) -> str:
    return yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


@person_page
@ensure_csrf_cookie
def policy_page(request):
    person = request.person
    provider = access_provider_setup(person)
    sus = list(managed_service_users(person).order_by("full_name", "id")[:500])
    error = ""
    saved = request.GET.get("saved", "")
    text = _policy_text(policy_for(provider))
    severity = "medium"
    su_id = sus[0].id if sus else None
    draft = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        text = request.POST.get("policy", "")[: MAX_POLICY_TEXT + 1]
        severity = request.POST.get("severity", "medium")
        if severity not in dict(SEVERITIES):
            severity = "medium"
        raw_su = request.POST.get("service_user", "")
        su_id = int(raw_su) if raw_su.isdigit() and len(raw_su) < 19 else su_id
        try:
            if action == "reset":
                check_reset_policy(person)
                return redirect(reverse("escalation_policy") + "?saved=reset")
            if len(text) > MAX_POLICY_TEXT:
                raise _Bad("The policy text is too long.")
            try:
                config = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f" (line {mark.line + 1})" if mark is not None else ""
                raise _Bad(f"The policy is not valid YAML{where}.") from None
            if action == "save":
                check_set_policy(person, config)
                return redirect(reverse("escalation_policy") + "?saved=1")
            if action != "preview":
                raise NotFound("Not found.")
            draft = validate_policy(config)
        except _Bad as exc:
            error = str(exc)
        except CoCareError as exc:
            if isinstance(exc, NotFound):
                raise
            error = exc.message
    steps = []
    su = None
    if su_id is not None:
        su = access_preview_service_user(person, su_id)
        steps = preview(su, severity, clock.now(), draft)  # type: ignore[arg-type]
    row = ProviderPolicy.objects.filter(provider=provider).select_related("updated_by").first()
    return page(
        request,
        "web/escalation_policy.html",
        {
            "provider": provider,
            "text": text,
            "error": error,
            "saved": saved,
            "own": row,
            "service_users": sus,
            "su": su,
            "severities": SEVERITIES,
            "severity": severity,
            "steps": steps,
            "draft": draft is not None,
        },
        active="escalation",
    )


class _Bad(Exception):
    pass
