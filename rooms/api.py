"""HTTP API (django-ninja; OpenAPI at /api/openapi.json, docs at /api/docs).

Thin adapters over the actions modules: authorise through ``rooms.access``, write through
``rooms.messages`` / ``rooms.network``. Bodies are pydantic models that reject
undeclared fields; every error is a JSON body with ``error`` and ``message``. Bodies are
parsed with ``rooms.bounds.loads`` and ids are ``rooms.bounds.Id``: a non-finite or
oversized number anywhere, or an id no column can hold, is a 422 ``invalid`` naming the
field (docs/security.md, "Hostile input").
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import django_auth
from pydantic import ConfigDict

from cocare_chat import clock
from rooms import access, audit, bounds, ratelimit, search
from rooms.bounds import Id
from rooms.errors import CoCareError, Invalid, NotFound
from rooms.frames import ClientId
from rooms.messages import check_post_message, history
from rooms.models import Membership, Person, PushDevice
from rooms.network import check_add_member, check_remove_member
from rooms.summaries import receipts, room_summaries, summary_wire
from rooms.wire import for_member, message_wire, person_wire, rooms_wire


class StrictJSON(Parser):
    """Request bodies through ``bounds.loads``: NaN, Infinity, 1e999 or a 2**64 anywhere in
    the document raise ``bounds.BadNumber`` (ninja wraps it in a 400 HttpError; the handler
    below turns it into 422 ``invalid`` naming the field)."""

    def parse_body(self, request: HttpRequest) -> Any:
        return bounds.loads(request.body)


api = NinjaAPI(
    title="CoCare chat API",
    version="1",
    auth=django_auth,
    urls_namespace="api",
    parser=StrictJSON(),
)


class Body(Schema):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    error: str
    message: str


@api.exception_handler(CoCareError)
def _cocare_error(request, exc: CoCareError):
    return api.create_response(
        request, {"error": exc.code, "message": exc.message}, status=exc.status
    )


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    parts = []
    for err in exc.errors[:5]:
        loc = list(err.get("loc", ()))
        # ("body", "data", "client_id") -> "client_id": drop the source and parameter name.
        if loc and loc[0] in ("body", "query", "path", "form", "file"):
            loc = loc[1:]
            if loc and loc[0] in ("data", "q"):
                loc = loc[1:]
        loc = ".".join(str(x) for x in loc)
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return api.create_response(
        request,
        {"error": "invalid", "message": "; ".join(parts) or "Invalid request."},
        status=422,
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return api.create_response(
        request, {"error": "unauthenticated", "message": "Sign in first."}, status=401
    )


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, bounds.BadNumber):
        return api.create_response(
            request, {"error": "invalid", "message": str(exc.__cause__)}, status=422
        )
    return api.create_response(
        request, {"error": "bad_request", "message": str(exc)}, status=exc.status_code
    )


def me(request: HttpRequest) -> Person:
    person = Person.objects.filter(user=request.user).first()
    if person is None:
        raise NotFound("Your account is not linked to a person.")
    return person


router = Router(tags=["rooms"])


@router.get("/me", response={200: dict})
def get_me(request):
    return person_wire(me(request))


@router.get("/rooms", response={200: list[dict]})
def my_rooms(request):
    return rooms_wire(me(request))


@router.get("/rooms/summary", response={200: list[dict]})
def my_rooms_summary(request):
    """Each room I may read with its unread count and last-message preview (home page)."""
    person = me(request)
    found = room_summaries(person)
    audit.record_rooms(person, "room.preview", [s.room for s in found.values()])
    return [summary_wire(s) for s in sorted(found.values(), key=lambda s: s.room.id)]


class HistoryQuery(Schema):
    after_seq: int = Field(0, ge=0, le=bounds.BIGINT_MAX)
    before_seq: int | None = Field(None, ge=1, le=bounds.BIGINT_MAX)
    limit: int = Field(100, ge=1, le=500)


@router.get("/rooms/{room_id}/messages", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def room_history(request, room_id: Id, q: Query[HistoryQuery]):
    """Entries after ``after_seq`` (oldest first), or with ``before_seq`` the page just
    before it (older history, for scrolling up); never at or before the member's
    ``visible_from``. ``more``: older (with before_seq) or newer entries remain."""
    person = me(request)
    room, m = access.access_room(person, room_id, access.Action.READ)
    if q.before_seq is not None and q.after_seq:
        raise Invalid("Give after_seq or before_seq, not both.")
    rows = history(
        room,
        after_seq=q.after_seq,
        visible_from=m.visible_from_seq,
        limit=q.limit,
        before_seq=q.before_seq,
    )
    audit.record(person, "room.read", room=room)
    if q.before_seq is not None:
        more = bool(rows) and rows[0].seq > m.visible_from_seq + 1
    else:
        more = bool(rows) and rows[-1].seq < room.last_seq
    return {
        "room": room.id,
        "head_seq": room.last_seq,
        "visible_from": m.visible_from_seq,
        "messages": [for_member(message_wire(x), m.visible_from_seq) for x in rows],
        "more": more,
    }


class SearchParams(Schema):
    q: str = Field(min_length=1, max_length=search.QUERY_MAX)
    limit: int = Field(30, ge=1, le=100)


@router.get("/rooms/{room_id}/search", response={200: dict, 404: ErrorOut, 422: ErrorOut})
def room_search(request, room_id: Id, q: Query[SearchParams]):
    """Messages and notes of the room matching ``q`` by their current text, newest first;
    never before my ``visible_from``, never a deleted one (rooms/search.py)."""
    person = me(request)
    found = search.search_room(person, room_id, q.q, limit=q.limit)
    audit.record(person, "room.search", room=found.room)
    return {
        "room": found.room.id,
        "query": found.query,
        "messages": [message_wire(x) for x in found.messages],
    }


@router.get("/rooms/{room_id}/receipts", response={200: list[dict], 404: ErrorOut})
def room_receipts(request, room_id: Id):
    """Who counts for a message's ticks and how far each has read (rooms/summaries.py)."""
    room, _ = access.access_room(me(request), room_id, access.Action.READ)
    return receipts(room)


class PostIn(Body):
    client_id: ClientId
    kind: Literal["text", "note", "answer", "edit", "redaction"] = "text"
    body: str = Field("", max_length=100_000)
    payload: dict[str, Any] | None = None
    reply_to: Id | None = None
    target: Id | None = None


@router.post(
    "/rooms/{room_id}/messages",
    response={
        201: dict,
        200: dict,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
)
def post(request, room_id: Id, data: PostIn):
    person = me(request)
    ratelimit.hit("send", person.id)
    posted = check_post_message(
        person=person,
        room_id=room_id,
        kind=data.kind,
        body=data.body,
        payload=data.payload,
        client_id=data.client_id,
        reply_to_seq=data.reply_to,
        target_seq=data.target,
    )
    m = posted.message
    return Status(
        201 if posted.created else 200,
        {
            "id": m.id,
            "seq": m.seq,
            "room": m.room_id,
            "duplicate": not posted.created,
        },
    )


@router.get("/rooms/{room_id}/members", response={200: list[dict], 404: ErrorOut})
def members(request, room_id: Id):
    room, _ = access.access_room(me(request), room_id, access.Action.READ)
    rows = Membership.objects.filter(room=room, removed_at__isnull=True).select_related("person")
    return [person_wire(x.person) | {"joined_at": x.joined_at.isoformat()} for x in rows]


class MemberIn(Body):
    person_id: Id


@router.post(
    "/rooms/{room_id}/members", response={201: dict, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}
)
def add_member(request, room_id: Id, data: MemberIn):
    person = me(request)
    ratelimit.hit("invite", person.id)
    m = check_add_member(person, room_id, data.person_id)
    return Status(201, {"room": m.room_id, "person": m.person_id})


@router.delete("/rooms/{room_id}/members/{person_id}", response={204: None, 404: ErrorOut})
def remove_member(request, room_id: Id, person_id: Id):
    check_remove_member(me(request), room_id, person_id)
    return Status(204, None)


@router.get("/service-users/{su_id}", response={200: dict, 404: ErrorOut})
def key_info(request, su_id: Id):
    person = me(request)
    su = access.access_service_user(person, su_id)
    audit.record(person, "service_user.key_info", service_user=su)
    return {
        "id": su.id,
        "name": su.name,
        "full_name": su.full_name,
        "preferences": su.preferences,
        "what_matters": su.what_matters,
        "communication_needs": su.communication_needs,
        "access_notes": su.access_notes,
        "updated_at": su.key_info_updated_at.isoformat() if su.key_info_updated_at else None,
    }


class DeviceIn(Body):
    token: str = Field(min_length=8, max_length=4096)
    platform: Literal["web", "android", "ios"] = "web"


@router.post("/push-devices", response={201: dict, 200: dict, 422: ErrorOut})
def register_device(request, data: DeviceIn):
    """Idempotent on the token: registering it again (re)activates it for this person."""
    person = me(request)
    digest = hashlib.sha256(data.token.encode()).hexdigest()
    with transaction.atomic():
        dev, created = PushDevice.objects.update_or_create(
            token_hash=digest,
            defaults={
                "person": person,
                "token": data.token,
                "platform": data.platform,
                "active": True,
                "disabled_at": None,
                "disabled_reason": "",
            },
            create_defaults={
                "person": person,
                "token": data.token,
                "platform": data.platform,
                "created_at": clock.now(),
            },
        )
    return Status(201 if created else 200, {"id": dev.id, "active": dev.active})


@router.delete("/push-devices/{device_id}", response={204: None, 404: ErrorOut})
def remove_device(request, device_id: Id):
    n = PushDevice.objects.filter(pk=device_id, person=me(request)).update(
        active=False, disabled_at=clock.now(), disabled_reason="removed by user"
    )
    if not n:
        raise NotFound("No such device.")
    return Status(204, None)


api.add_router("/", router)
