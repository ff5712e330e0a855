"""Care manager (and council) pages: alert inbox and alert page, exceptions queue,
members and invitations, planned visits.

Alerts authorise through ``escalation.access``; members, invitations and visits through
``rooms.access`` (managing the family room, key-information access, provider manager).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST
from pydantic import ValidationError

from bots.health import overdue_missed_checks
from bots.models import PlannedVisit, Visit
from bots.schedule import LOCAL_TZ, PlannedVisitIn, check_create_planned_visit
from cocare_chat import clock
from escalation import access as alert_access
from escalation.alerts import LABELS, do_acknowledge, do_reopen, do_resolve
from escalation.api import alert_wire
from escalation.health import overdue_steps
from escalation.models import Alert, Flag
from rooms import access, audit
from rooms.errors import CoCareError, NotFound
from rooms.failures import check_review_failure, failures_for
from rooms.health import Thresholds, consumer_lag
from rooms.models import FamilyBasis, Membership, Person, Role, Room
from rooms.network import (
    access_family_member,
    check_record_family_basis,
    check_remove_member,
    check_review_family_basis,
    check_revoke_family_basis,
    check_set_goal_writer,
    check_set_history_before_join,
    family_bases,
)
from web.forms import (
    BasisFields,
    InviteForm,
    PlannedVisitForm,
    ReopenForm,
    ResolveForm,
    ReviewForm,
)
from web.invitations import (
    access_manage_family,
    check_cancel_invitation,
    check_create_invitation,
    purge_expired_invitations,
)
from web.models import Invitation
from web.pages import ALERT_ROLES, page, person_page
from web.schedule_view import visit_status

EXCEPTION_DAYS = 14
VISIT_CONCERNS = ("location_exception", "missed_visit", "late_visit")


def _require_inbox(person: Person) -> None:
    if person.role not in ALERT_ROLES:
        raise NotFound("No alert inbox.")


@person_page
@ensure_csrf_cookie
def inbox(request):
    person = request.person
    _require_inbox(person)
    alerts = (
        alert_access.visible_alerts(person)
        .exclude(state=Alert.State.RESOLVED)
        .order_by("-opened_at", "-id")[:100]
    )
    wires = [alert_wire(a) for a in alerts]
    can_manage = person.role == Role.CARE_MANAGER
    return page(
        request,
        "web/inbox.html",
        {
            "alerts": wires,
            "can_manage": can_manage,
            "inbox_config": {"initial": [a["id"] for a in wires], "can_manage": can_manage},
        },
        active="alerts",
    )


@person_page
def alert_page(request, alert_id: int):
    person = request.person
    alert = alert_access.access_alert(person, alert_id)
    audit.record(
        person, "alert.read", service_user=alert.service_user_id, target=f"alert:{alert.id}"
    )
    flags = []
    for f in (
        Flag.objects.filter(alert=alert)
        .select_related("subject", "subject__room", "subject__sender", "raised_by")
        .order_by("id")
    ):
        context = alert_access.flagged_context(person, alert, f.subject) if f.subject else None
        flags.append({"flag": f, "context": context, "label": LABELS.get(f.concern, f.concern)})
    events = list(alert.events.select_related("actor"))
    manage = access.is_provider_manager(person, alert.service_user)
    return page(
        request,
        "web/alert.html",
        {
            "alert": alert,
            "label": LABELS.get(alert.concern, alert.concern),
            "flags": flags,
            "events": events,
            "manage": manage,
            "resolve_form": ResolveForm(prefix="resolve"),
            "reopen_form": ReopenForm(prefix="reopen"),
            "error": request.GET.get("error", "")[:200],
        },
        active="alerts",
    )


def _back(request, default: str) -> str:
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return default


@require_POST
@person_page
def alert_action(request, alert_id: int, action: str):
    person = request.person
    alert = alert_access.access_alert(person, alert_id, manage=True)
    now = clock.now()
    detail = reverse("alert", args=[alert.id])
    try:
        if action == "ack":
            do_acknowledge(alert, person, now)
        elif action == "resolve":
            form = ResolveForm(request.POST, prefix="resolve")
            if not form.is_valid():
                return redirect(detail + "?error=Write+the+outcome+before+resolving.")
            do_resolve(
                alert,
                person,
                form.cleaned_data["outcome"],
                now,
                raiser_outcome=form.cleaned_data["raiser_outcome"],
            )
        elif action == "reopen":
            form = ReopenForm(request.POST, prefix="reopen")
            if not form.is_valid():
                return redirect(detail + "?error=Say+why+you+are+reopening+it.")
            do_reopen(alert, person, form.cleaned_data["reason"], now)
        else:
            raise Http404("Not found")
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return redirect(detail + "?" + _q(error=exc.message))
    return redirect(_back(request, detail))


def _q(**kw) -> str:
    return urlencode(kw)


@person_page
def exceptions(request):
    person = request.person
    if person.role != Role.CARE_MANAGER:
        raise NotFound("No exceptions queue.")
    sus = access.managed_service_users(person)
    now = clock.now()
    since = now - dt.timedelta(days=EXCEPTION_DAYS)
    bad = (Visit.Location.OUT_OF_RANGE, Visit.Location.NO_LOCATION)
    location = (
        Visit.objects.filter(service_user__in=sus, checked_in_at__gte=since)
        .filter(Q(checkin_location__in=bad) | Q(checkout_location__in=bad))
        .select_related("service_user", "worker", "exception_reviewed_by")
        .order_by("-checked_in_at")[:100]
    )
    late = (
        Visit.objects.filter(service_user__in=sus, checked_in_at__gte=since, late=True)
        .select_related("service_user", "worker", "planned_visit")
        .order_by("-checked_in_at")[:100]
    )
    missed = (
        PlannedVisit.objects.filter(
            service_user__in=sus,
            window_start__gte=since,
            status=PlannedVisit.Status.PLANNED,
            missed_flagged_at__isnull=False,
            visit__isnull=True,
        )
        .select_related("service_user", "worker")
        .order_by("-window_start")[:100]
    )
    alerts = (
        alert_access.visible_alerts(person)
        .filter(concern__in=VISIT_CONCERNS)
        .exclude(state=Alert.State.RESOLVED)
        .order_by("-opened_at")[:100]
    )
    return page(
        request,
        "web/exceptions.html",
        {
            "location": location,
            "late": late,
            "missed": missed,
            "alerts": [alert_wire(a) for a in alerts],
            "days": EXCEPTION_DAYS,
            "people": sus.order_by("full_name"),
            "error": request.GET.get("error", "")[:200],
            **_automatic_checks(person, sus, now, since),
        },
        active="exceptions",
    )


# What the workers are, in words a care manager reads (rooms/health.py has the ids).
WORKER_LABELS = {
    "bots": "Visit bot",
    "bots.ticker": "Missed-visit and question timers",
    "escalation.detect": "Concern detection",
    "escalation.ticker": "Alert escalation steps",
    "escalation.push": "Push notifications",
    "escalation.message_push": "Message notifications",
    "bridge.outbox": "Matrix bridge",
    "bridge.sender": "Matrix bridge",
}
REF_LABELS = {
    "bots.plannedvisit": "planned visit",
    "bots.botquestion": "bot question",
    "escalation.alert": "alert",
    "escalation.notification": "notification",
    "bridge.outboxentry": "message to Matrix",
    "bridge.bridgedroom": "Matrix room",
    "rooms.room": "Matrix room",
}
ROOM_TABS = {Room.Kind.PROFESSIONAL: "team", Room.Kind.FAMILY: "family"}


def _automatic_checks(person: Person, sus, now: dt.datetime, since: dt.datetime) -> dict:
    """Skipped/failing work, lag and stuck timers for this manager's service users only.
    Ids, rooms and times — never a message body."""
    grace = Thresholds().grace
    failures = [
        {
            "f": f,
            "worker": WORKER_LABELS.get(f.worker, f.worker),
            "what": REF_LABELS.get(f.ref_model, f.ref_model),
            "tab": ROOM_TABS.get(f.room.kind) if f.room else None,
        }
        for f in failures_for(person, since)
    ]
    lag = [x for x in consumer_lag() if x.lagging(now, Thresholds())]
    return {
        "failures": failures,
        "lag_minutes": max(
            (int((now - x.oldest_unread_at).total_seconds() // 60) for x in lag), default=None
        ),
        "overdue_steps": list(
            overdue_steps(now, grace)
            .filter(service_user__in=sus)
            .values_list("id", "service_user__preferred_name", "service_user__full_name")[:50]
        ),
        "overdue_missed": list(
            overdue_missed_checks(now, grace)
            .filter(service_user__in=sus)
            .values_list(
                "id", "service_user_id", "service_user__preferred_name", "service_user__full_name"
            )[:50]
        ),
    }


@require_POST
@person_page
def failure_reviewed(request, kind: str, failure_id: int):
    """A care manager has looked at a skipped entry by hand (audited; health stops
    counting it). Refusals are the page's 404."""
    try:
        check_review_failure(request.person, kind, failure_id)
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return redirect(reverse("exceptions") + "?" + _q(error=exc.message))
    return redirect("exceptions")


def _family_rows(su, family_members: list[Membership], now: dt.datetime) -> list[dict]:
    """Each family member with their own active basis (or none), review state and the
    person's history choice for them."""
    active = {
        fb.person_id: fb
        for fb in FamilyBasis.objects.filter(service_user=su, revoked_at__isnull=True)
    }
    today = timezone.localdate(now)
    rows = []
    for m in family_members:
        if m.person.role != Role.FAMILY:
            continue
        fb = active.get(m.person_id)
        rows.append(
            {
                "m": m,
                "basis": fb,
                "due": fb is not None and fb.review_on is not None and fb.review_on <= today,
                "sees_earlier": m.history_before_join,
                "form": None if fb else BasisFields(prefix=f"b{m.person_id}"),
            }
        )
    return rows


def _members_context(person, room: Room) -> dict:
    su = room.service_user
    now = clock.now()
    rooms = {r.kind: r for r in Room.objects.filter(service_user=su)}
    members = {
        kind: list(
            Membership.objects.filter(room=r, removed_at__isnull=True)
            .select_related("person")
            .order_by("person__display_name")
        )
        for kind, r in rooms.items()
    }
    purge_expired_invitations(person, su.id, now)
    invites = [
        {"inv": i, "status": i.status(now)}
        for i in Invitation.objects.filter(service_user=su).order_by("-created_at")[:50]
    ]
    family_members = members.get(Room.Kind.FAMILY, [])
    return {
        "su": su,
        "team_members": members.get(Room.Kind.PROFESSIONAL, []),
        "family_members": family_members,
        "family_rows": _family_rows(su, family_members, now),
        "basis_record": list(family_bases(su)[:100]),
        "family_room": rooms.get(Room.Kind.FAMILY),
        "invites": invites,
    }


@person_page
@ensure_csrf_cookie
def members(request, su_id: int):
    person = request.person
    room = access_manage_family(person, su_id)
    audit.record(person, "members.read", service_user=room.service_user_id)
    ctx = _members_context(person, room)
    issued = None
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and (basis := form.basis_in()) is not None:
        d = form.cleaned_data
        try:
            issued = check_create_invitation(
                person,
                su_id,
                display_name=d["display_name"],
                relationship=d["relationship"],
                days=d["days"],
                basis=basis,
                history_before_join=d["history_before_join"],
            )
        except CoCareError as exc:
            if isinstance(exc, NotFound):
                raise
            form.add_error(None, exc.message)
        else:
            ctx = _members_context(person, room)
            form = InviteForm()
    link = request.build_absolute_uri(f"/invite/{issued.token}/") if issued else None
    return page(
        request,
        "web/members.html",
        {
            **ctx,
            "form": form,
            "link": link,
            "issued": issued,
            "error": request.GET.get("error", "")[:200],
            "done": request.GET.get("done", "")[:200],
        },
        active="home",
    )


@require_POST
@person_page
def member_basis(request, su_id: int, person_id: int, action: str):
    """Record, review or revoke one family member's lawful basis, or set the person's
    history choice for them (rooms.network ``check_*``: the one NotFound for refusals)."""
    actor = request.person
    back = reverse("members", args=[su_id])
    # Authorise before reading the form, so a refusal never depends on what was posted.
    access_family_member(actor, su_id, person_id)
    try:
        if action == "revoke":
            check_revoke_family_basis(actor, su_id, person_id)
            done = "Sharing stopped at once for that family member."
        elif action == "record":
            form = BasisFields(request.POST, prefix=f"b{person_id}")
            basis = form.basis_in() if form.is_valid() else None
            if basis is None:
                errors = [str(e) for errs in form.errors.values() for e in errs]
                return redirect(back + "?" + _q(error=" ".join(errors)[:200]))
            check_record_family_basis(actor, su_id, person_id, basis)
            done = "Lawful basis recorded."
        elif action == "review":
            form = ReviewForm(request.POST)
            if not form.is_valid():
                return redirect(back + "?" + _q(error="Choose the next review date."))
            check_review_family_basis(actor, su_id, person_id, form.cleaned_data["review_on"])
            done = "Review recorded."
        elif action in ("goals-yes", "goals-no"):
            check_set_goal_writer(actor, su_id, person_id, action == "goals-yes")
            done = "Goal writing choice saved."
        elif action in ("history-all", "history-from-join"):
            check_set_history_before_join(actor, su_id, person_id, action == "history-all")
            done = "History choice saved."
        else:
            raise NotFound("No such room or person.")
    except CoCareError as exc:
        if isinstance(exc, NotFound):
            raise
        return redirect(back + "?" + _q(error=exc.message))
    return redirect(back + "?" + _q(done=done))


@require_POST
@person_page
def invitation_cancel(request, su_id: int, invitation_id: int):
    inv = Invitation.objects.filter(pk=invitation_id, service_user_id=su_id).first()
    if inv is None:
        raise NotFound("No such invitation.")
    check_cancel_invitation(request.person, inv.id)
    return redirect("members", su_id=su_id)


@require_POST
@person_page
def member_remove(request, su_id: int, room_id: int, person_id: int):
    room = Room.objects.filter(pk=room_id, service_user_id=su_id).first()
    if room is None:
        raise NotFound("No such room.")
    check_remove_member(request.person, room.id, person_id)
    return redirect("members", su_id=su_id)


@person_page
@ensure_csrf_cookie
def visits(request, su_id: int):
    person = request.person
    su = access.access_service_user(person, su_id)
    manage = access.is_provider_manager(person, su)
    team = Room.objects.get(service_user=su, kind=Room.Kind.PROFESSIONAL)
    workers = [
        m.person
        for m in Membership.objects.filter(
            room=team, removed_at__isnull=True, person__role=Role.CARE_WORKER
        )
        .select_related("person")
        .order_by("person__display_name")
    ]
    form = PlannedVisitForm(request.POST or None, workers=workers)
    created = None
    if request.method == "POST":
        if not manage:
            raise NotFound("No such person.")
        if form.is_valid():
            d = form.cleaned_data
            try:
                data = PlannedVisitIn(
                    worker_id=d["worker"],
                    window_start=dt.datetime.combine(d["date"], d["start"], tzinfo=LOCAL_TZ),
                    window_end=dt.datetime.combine(d["date"], d["end"], tzinfo=LOCAL_TZ),
                    notes=d["notes"],
                )
                created = check_create_planned_visit(person, su.id, data)
            except ValidationError as exc:
                form.add_error(
                    None, "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                )
            except CoCareError as exc:
                if isinstance(exc, NotFound):
                    raise
                form.add_error(None, exc.message)
            else:
                form = PlannedVisitForm(workers=workers)
    now = clock.now()
    planned = (
        PlannedVisit.objects.filter(service_user=su, window_start__gte=now - dt.timedelta(days=7))
        .select_related("worker", "visit")
        .order_by("window_start")[:200]
    )
    audit.record(person, "planned_visit.list", service_user=su)
    return page(
        request,
        "web/visits.html",
        {
            "su": su,
            "manage": manage,
            "form": form,
            "created": created,
            "planned": [
                {
                    "pv": pv,
                    "status": visit_status(pv, now)
                    if pv.status == PlannedVisit.Status.PLANNED
                    else "cancelled",
                }
                for pv in planned
            ],
        },
        active="home",
    )
