"""Set-up pages: staff of my organisation (administrators) and service users (a
provider's administrator or care manager). Thin: access is ``rooms.access``; writes are
``rooms.staff``, ``web.staff.invites`` and ``web.staff.service_users``. A person who may
not use a page gets the same 404 as for a page that does not exist."""

from __future__ import annotations

from django.contrib.auth import get_user_model, login
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from cocare_chat import clock
from rooms import access
from rooms.access import STAFF_GONE
from rooms.errors import CoCareError, NotFound
from rooms.models import Person
from rooms.staff import check_change_role, check_deactivate
from web.forms import AcceptInviteForm
from web.invitations import InvitationUnusable, Issued
from web.models import Invitation
from web.pages import page, person_page
from web.staff import forms
from web.staff.invites import (
    check_cancel_staff_invitation,
    check_invite_own_account,
    check_invite_staff,
    redeem_account_invitation,
)
from web.staff.service_users import (
    DETAIL_FIELDS,
    assignable_staff,
    care_team,
    check_archive_service_user,
    check_assign_staff,
    check_create_service_user,
    check_update_service_user,
    choosable_managers,
)

LANDING = {"provider_admin": "/org/staff/", "council_admin": "/org/staff/"}


def _link(request, issued: Issued) -> str:
    return request.build_absolute_uri(f"/invite/{issued.token}/")


def _require_admin(person: Person) -> frozenset[str]:
    roles = access.grantable_roles(person)
    if not roles:
        raise NotFound(STAFF_GONE)
    return roles


def _staff_page(request, *, form=None, issued: Issued | None = None, error: str = ""):
    person = request.person
    roles = _require_admin(person)
    now = clock.now()
    active = dict(
        get_user_model()
        .objects.filter(person__in=access.staff_of(person))
        .values_list("person__id", "is_active")
    )
    staff = [
        {
            "p": p,
            "active": active.get(p.id, False),
            "role_form": forms.RoleForm(roles=roles, initial={"role": p.role}, prefix=f"p{p.id}"),
        }
        for p in access.staff_of(person).order_by("display_name")
    ]
    invites = [
        {"inv": i, "status": i.status(now)}
        for i in Invitation.objects.filter(
            kind=Invitation.Kind.STAFF, organisation_id=person.organisation_id
        ).order_by("-created_at")[:50]
    ]
    return page(
        request,
        "web/admin_staff.html",
        {
            "org": person.organisation,
            "staff": staff,
            "invites": invites,
            "form": form or forms.StaffInviteForm(roles=roles),
            "issued": issued,
            "link": _link(request, issued) if issued else "",
            "error": error,
        },
        active="staff",
        status=422 if error or (form is not None and form.errors) else 200,
    )


@never_cache
@person_page
def staff(request):
    """List my organisation's staff, with invitations; POST invites one (link shown once)."""
    roles = _require_admin(request.person)
    if request.method != "POST":
        return _staff_page(request)
    form = forms.StaffInviteForm(request.POST, roles=roles)
    if not form.is_valid():
        return _staff_page(request, form=form)
    try:
        issued = check_invite_staff(request.person, **form.cleaned_data)
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return _staff_page(request, form=form, error=exc.message)
    return _staff_page(request, issued=issued)


@require_POST
@person_page
def staff_role(request, person_id: int):
    roles = _require_admin(request.person)
    form = forms.RoleForm(request.POST, roles=roles, prefix=f"p{person_id}")
    access.access_staff(request.person, person_id)  # the same 404 before any form error
    if not form.is_valid():
        return _staff_page(request, error="Choose one of the roles you may give.")
    try:
        check_change_role(request.person, person_id, form.cleaned_data["role"])
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return _staff_page(request, error=exc.message)
    return redirect("admin_staff")


@require_POST
@person_page
def staff_deactivate(request, person_id: int):
    try:
        check_deactivate(request.person, person_id)
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return _staff_page(request, error=exc.message)
    return redirect("admin_staff")


@require_POST
@person_page
def staff_invitation_cancel(request, invitation_id: int):
    check_cancel_staff_invitation(request.person, invitation_id)
    return redirect("admin_staff")


# ---- service users ----------------------------------------------------------------------


def _require_setup(person: Person) -> None:
    if not access.sets_up_service_users(person):
        raise NotFound(STAFF_GONE)


@never_cache
@person_page
def service_users(request):
    """My provider's service users; POST creates one (rooms, bot, managers) and opens it."""
    person = request.person
    _require_setup(person)
    managers = list(choosable_managers(person))
    form = forms.ServiceUserCreateForm(request.POST or None, managers=managers)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            su = check_create_service_user(person, manager_ids=data.pop("managers"), **data)
        except CoCareError as exc:
            if isinstance(exc, NotFound):
                raise
            error = exc.message
        else:
            return redirect("admin_service_user", su_id=su.id)
    rows = access.setup_service_users(person).order_by("archived_at", "full_name")
    return page(
        request,
        "web/admin_service_users.html",
        {"rows": rows, "form": form, "error": error},
        active="service_users",
        status=422 if error or form.errors else 200,
    )


def _su_page(request, su, *, form=None, issued=None, error: str = ""):
    initial = {f: getattr(su, f) for f in DETAIL_FIELDS}
    return page(
        request,
        "web/admin_service_user.html",
        {
            "su": su,
            "form": form or forms.ServiceUserDetailsForm(initial=initial),
            "account_form": forms.OwnAccountForm(),
            "team": care_team(su),
            "team_form": forms.AssignForm(staff=assignable_staff(request.person)),
            "issued": issued,
            "link": _link(request, issued) if issued else "",
            "error": error,
        },
        active="service_users",
        status=422 if error or (form is not None and form.errors) else 200,
    )


@never_cache
@person_page
def service_user(request, su_id: int):
    """Edit a service user's details; archive; invite them to their own account."""
    su = access.access_setup_service_user(request.person, su_id)
    if request.method != "POST":
        return _su_page(request, su)
    form = forms.ServiceUserDetailsForm(request.POST)
    if not form.is_valid():
        return _su_page(request, su, form=form)
    try:
        su = check_update_service_user(request.person, su_id, **form.cleaned_data)
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return _su_page(request, su, form=form, error=exc.message)
    return redirect("admin_service_user", su_id=su.id)


@require_POST
@person_page
def service_user_archive(request, su_id: int):
    check_archive_service_user(request.person, su_id)
    return redirect("admin_service_user", su_id=su_id)


@require_POST
@person_page
def service_user_team(request, su_id: int):
    """Add a member of the provider's staff to this person's care team (both rooms their
    role allows)."""
    su = access.access_setup_service_user(request.person, su_id)
    form = forms.AssignForm(request.POST, staff=assignable_staff(request.person))
    if not form.is_valid():
        raise NotFound("No such person.")  # an id not offered: the same answer as any
    try:
        check_assign_staff(request.person, su_id, form.cleaned_data["person"])
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return _su_page(request, su, error=exc.message)
    return redirect("admin_service_user", su_id=su_id)


@require_POST
@person_page
def service_user_account(request, su_id: int):
    su = access.access_setup_service_user(request.person, su_id)
    form = forms.OwnAccountForm(request.POST)
    if not form.is_valid():
        return _su_page(request, su, error="A link lasts 1 to 30 days.")
    try:
        issued = check_invite_own_account(request.person, su_id, days=form.cleaned_data["days"])
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return _su_page(request, su, error=exc.message)
    return _su_page(request, su, issued=issued)


# ---- the invitee's side of a staff or own-account link ----------------------------------


def accept_account(request, token: str, inv: Invitation, gone):
    """Called by ``web.views_invite.accept`` for a staff or own-account link: choose a
    username (the email is offered) and a password; signed in on success."""
    form = AcceptInviteForm(request.POST or None, initial={"username": inv.email})
    if request.method == "POST" and form.is_valid():
        try:
            person = redeem_account_invitation(
                token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
            )
        except InvitationUnusable as exc:
            return gone(request, exc.status if exc.status != "invalid" else "used")
        except CoCareError as exc:
            form.add_error(None, exc.message)
        else:
            login(request, person.user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(LANDING.get(person.role, "/"))
    org = inv.organisation.name if inv.organisation_id else ""
    resp = page(
        request,
        "web/invite_account.html",
        {"inv": inv, "org": org, "role": forms.ROLE_LABELS.get(inv.role, ""), "form": form},
    )
    resp["Referrer-Policy"] = "same-origin"  # see web.views_invite.REFERRER_POLICY
    return resp
