"""People-facing pages: home, the service-user page (chat tabs), health check.

Thin: every page authorises through ``rooms.access`` (and ``escalation.access`` for
alerts); live data arrives over the websocket (docs/protocol.md) in the browser.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie

from bots.models import BotSession, PlannedVisit
from cocare_chat import clock
from escalation.concerns import my_concerns
from rooms import access, audit, search
from rooms.errors import Invalid, NotFound
from rooms.models import Membership, ReadPosition, Role, Room, ServiceUser
from rooms.network import reviews_due
from rooms.summaries import room_summaries
from rooms.wire import person_wire
from web.pages import page, person_page
from web.schedule_view import local_day, visit_status

TABS = {"team": Room.Kind.PROFESSIONAL, "family": Room.Kind.FAMILY}
HISTORY_WINDOW = 150  # entries replayed on open; older ones stay in the record


@person_page
@ensure_csrf_cookie
def home(request):
    person = request.person
    if person.role in (Role.PROVIDER_ADMIN, Role.COUNCIL_ADMIN):
        return redirect("admin_staff")  # administrators have no rooms: their start page
    summaries = room_summaries(person)
    rooms = sorted(
        (s.room for s in summaries.values()), key=lambda r: (r.service_user.full_name, r.kind)
    )
    people: dict[int, dict] = {}
    for r in rooms:
        entry = people.setdefault(
            r.service_user_id, {"su": r.service_user, "tabs": [], "rooms": []}
        )
        tab = "team" if r.kind == Room.Kind.PROFESSIONAL else "family"
        entry["tabs"].append(tab)
        entry["rooms"].append({"tab": tab, "s": summaries[r.id]})
    audit.record_rooms(person, "room.preview", rooms)
    for su in access.managed_service_users(person).order_by("full_name"):
        people.setdefault(su.id, {"su": su, "tabs": [], "rooms": []})
    for entry in people.values():
        entry["dashboard"] = person.role in (Role.CARE_MANAGER, Role.NURSE, Role.THERAPIST)
    now = clock.now()
    start, end = local_day(now)
    visits = []
    if person.role == Role.CARE_WORKER:
        qs = (
            PlannedVisit.objects.filter(
                worker=person,
                status=PlannedVisit.Status.PLANNED,
                # Overlapping today, not only starting today: a night visit that began
                # before midnight is still today's work until it ends.
                window_end__gt=start,
                window_start__lt=end,
            )
            .select_related("service_user", "visit")
            .order_by("window_start")
        )
        visits = [{"pv": pv, "status": visit_status(pv, now)} for pv in qs]
    # Lawful bases whose review date has come, per service user (members page links).
    due = list(
        reviews_due(access.managed_service_users(person), timezone.localdate(now))
        .values("service_user_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in due:
        if row["service_user_id"] in people:
            people[row["service_user_id"]]["reviews_due"] = row["n"]
    return page(
        request,
        "web/home.html",
        {
            "reviews_due": sum(row["n"] for row in due),
            "people": sorted(people.values(), key=lambda e: e["su"].name),
            "visits": visits,
            "today": start,
        },
        active="home",
    )


def tabs_for(person, su_id: int) -> dict[str, Room]:
    rooms = access.visible_rooms(person).filter(service_user_id=su_id)
    kinds = {r.kind: r for r in rooms}
    return {tab: kinds[kind] for tab, kind in TABS.items() if kind in kinds}


@person_page
def service_user(request, su_id: int):
    tabs = tabs_for(request.person, su_id)
    if not tabs:
        if access.managed_service_users(request.person).filter(pk=su_id).exists():
            return redirect("members", su_id=su_id)
        raise Http404("Not found")
    return redirect("room", su_id=su_id, tab=next(iter(tabs)))


def key_info_for(person, su_id: int) -> ServiceUser | None:
    try:
        su = access.access_service_user(person, su_id)
    except NotFound:
        return None
    if person.role == Role.SERVICE_USER:
        return None  # their own details: nothing to brief them on
    audit.record(person, "service_user.key_info", service_user=su)
    return su


@person_page
@ensure_csrf_cookie
def room(request, su_id: int, tab: str):
    person = request.person
    tabs = tabs_for(person, su_id)
    if tab not in tabs:
        raise Http404("Not found")
    the_room = tabs[tab]
    room_obj, membership = access.access_room(person, the_room.id, access.Action.READ)
    audit.record(person, "room.page", room=room_obj)
    su = room_obj.service_user
    members = Membership.objects.filter(room=room_obj, removed_at__isnull=True).select_related(
        "person"
    )
    positions = list(
        ReadPosition.objects.filter(room=room_obj).values_list("person_id", "seq", "delivered_seq")
    )
    manager = access.is_provider_manager(person, su)
    can_check_in = person.role == Role.CARE_WORKER and tab == "team"
    share_room = None
    if tab == "team" and person.role == Role.CARE_WORKER and "family" in tabs:
        share_room = tabs["family"].id
    config = {
        "me": person_wire(person),
        "room": room_obj.id,
        "kind": room_obj.kind,
        "service_user": su.id,
        "name": su.name,
        "start_seq": max(membership.visible_from_seq, room_obj.last_seq - HISTORY_WINDOW),
        "share_room": share_room,
        "can_check_in": can_check_in,
        "can_note": tab == "team",
        "can_moderate": manager,
        "members": {str(m.person_id): m.person.display_name for m in members},
        "reads": {str(p): seq for p, seq, _ in positions},
        "delivered": {str(p): delivered for p, _, delivered in positions},
        "visible_from": membership.visible_from_seq,
        "head_seq": room_obj.last_seq,
        # Who counts for ticks: people (not bots) with the seq their history starts after.
        "receipts": {
            str(m.person_id): m.visible_from_seq for m in members if m.person.role != Role.BOT
        },
        "visit_open": can_check_in and open_visit(person, su),
        "concerns_url": reverse("my_concerns"),
        "search_url": reverse("room_search", args=[su.id, tab]),
    }
    return page(
        request,
        "web/room.html",
        {
            "su": su,
            "tab": tab,
            "tabs": list(tabs),
            "config": config,
            "key_info": key_info_for(person, su_id),
            "manager": manager,
            "dashboard": person.role in (Role.CARE_MANAGER, Role.NURSE, Role.THERAPIST),
            # Goals: the team reads them; the person and family they agreed may write.
            "goals_link": person.role in access.KEY_INFO_ROLES
            or access.may_write_goals(person, su),
            "my_concerns": len(my_concerns(person, service_user_id=su.id)),
        },
        active="home",
    )


def open_visit(worker, su: ServiceUser) -> bool:
    """Whether ``worker`` is checked in at ``su`` now (their visit session is open and not
    yet checked out): the room page shows "Check out" instead of "Check in"."""
    session = BotSession.objects.filter(
        kind=BotSession.Kind.VISIT, service_user=su, worker=worker, closed=False
    ).first()
    return session is not None and (session.state or {}).get("phase") == "visiting"


@person_page
def room_search(request, su_id: int, tab: str):
    """Search within one room (rooms/search.py); the API twin is
    ``GET /api/rooms/{id}/search``. Works without JavaScript."""
    person = request.person
    tabs = tabs_for(person, su_id)
    if tab not in tabs:
        raise Http404("Not found")
    room_obj, _ = access.access_room(person, tabs[tab].id, access.Action.READ)
    raw = request.GET.get("q", "")
    results, error = None, ""
    if raw.strip():
        try:
            found = search.search_room(person, room_obj.id, raw)
        except Invalid as exc:
            error = exc.message
        else:
            audit.record(person, "room.search", room=room_obj)
            results = found.messages
    return page(
        request,
        "web/room_search.html",
        {
            "su": room_obj.service_user,
            "tab": tab,
            "q": raw[: search.QUERY_MAX],
            "results": results,
            "error": error,
        },
        active="home",
        status=422 if error else 200,
    )


def healthz(request):
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"ok": True})
