"""Attachments over HTTP: the API (django-ninja, in the OpenAPI schema) and the pages'
access-checked redirects to short-lived signed URLs (``rooms.attachments``).

- ``POST /api/rooms/{room_id}/attachments`` (multipart: ``file``, ``client_id``, optional
  ``caption``): 201 with the entry, or 200 ``duplicate`` for a retry with the same client
  id; 422 with a clear message for a refused file (nothing stored).
- ``GET /api/attachments/{id}``: the attachment and signed URLs to its bytes; audited
  (``attachment.open``).
- ``GET /attachments/<id>/`` and ``/attachments/<id>/thumb/`` (pages, signed-in session):
  the same check, audited, then a 302 to the signed URL.
- ``GET /attachments/file/<token>/``: local storage only — serves the bytes a signed
  token names, until it expires.

Every refusal is the one 404 body of ``access_attachment``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_GET
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from cocare_chat.config import get_config
from rooms import audit, ratelimit
from rooms.api import ErrorOut, me
from rooms.attachment_files import BadFile
from rooms.attachments import (
    CACHE_CONTROL,
    access_attachment,
    attachment_wire,
    check_post_attachment,
    open_signed,
    signed_url,
    storage,
)
from rooms.bounds import Id
from rooms.errors import CoCareError, Invalid, NotFound
from rooms.frames import ClientId
from rooms.models import Attachment, Person
from rooms.wire import message_wire

router = Router(tags=["attachments"])


def _read_upload(upload: UploadedFile) -> bytes:
    limit = get_config().attachment_max_bytes
    if upload.size is not None and upload.size > limit:
        # Refused on the declared size before reading it into memory.
        raise BadFile(
            f"The file is too large ({upload.size / 1048576:g} MB; "
            f"the limit is {limit / 1048576:g} MB)."
        )
    return upload.read(limit + 1)


@router.post(
    "/rooms/{room_id}/attachments",
    response={201: dict, 200: dict, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def upload(
    request,
    room_id: Id,
    client_id: Form[ClientId],
    file: File[UploadedFile],
    caption: Form[str] = "",
):
    """Attach a photo (JPEG, PNG, HEIC → JPEG) or a PDF to the room; idempotent on
    ``client_id`` (a retry returns the stored entry with ``duplicate: true``)."""
    person = me(request)
    ratelimit.hit("send", person.id)
    posted = check_post_attachment(
        person=person,
        room_id=room_id,
        data=_read_upload(file),
        client_id=client_id,
        caption=caption,
    )
    m = posted.message
    return Status(
        201 if posted.created else 200,
        {
            "id": m.id,
            "seq": m.seq,
            "room": m.room_id,
            "attachment": m.payload.get("attachment"),
            "duplicate": not posted.created,
        },
    )


@router.get("/attachments/{att_id}", response={200: dict, 404: ErrorOut})
def get_attachment(request, att_id: Id):
    """The attachment and signed URLs to its bytes (valid ``expires_in`` seconds)."""
    person = me(request)
    att = access_attachment(person, att_id)
    audit.record(person, "attachment.open", room=att.room, target=f"attachment:{att.id}")
    url = signed_url(att)
    thumb = signed_url(att, thumb=True).url if att.thumb_key else None
    return attachment_wire(att) | {
        "url": _absolute(request, url.url),
        "thumb_url": _absolute(request, thumb) if thumb else None,
        "expires_in": url.expires_in,
        "entry": message_wire(att.message),
    }


def _absolute(request: HttpRequest, url: str) -> str:
    return url if "://" in url else request.build_absolute_uri(url)


# ---- pages -------------------------------------------------------------------------------


def _person(request: HttpRequest) -> Person | None:
    return Person.objects.filter(user=request.user).first()


def _not_found(exc: CoCareError) -> JsonResponse:
    return JsonResponse({"error": exc.code, "message": exc.message}, status=exc.status)


def _open(request: HttpRequest, att_id: int, *, thumb: bool) -> HttpResponse:
    try:
        att = access_attachment(_person(request), att_id)
        signed = signed_url(att, thumb=thumb)
    except NotFound as exc:
        return _not_found(exc)
    action = "attachment.thumb" if thumb else "attachment.open"
    audit.record(_person(request), action, room=att.room, target=f"attachment:{att.id}")
    resp = redirect(signed.url)
    resp["Cache-Control"] = CACHE_CONTROL
    return resp


@login_required
@require_GET
def open_view(request: HttpRequest, att_id: int) -> HttpResponse:
    return _open(request, att_id, thumb=False)


@login_required
@require_GET
def thumb_view(request: HttpRequest, att_id: int) -> HttpResponse:
    return _open(request, att_id, thumb=True)


@require_GET
def signed_view(request: HttpRequest, token: str) -> HttpResponse:
    """Local storage: the bytes a signed token names (no session: the token is the grant)."""
    try:
        att, thumb = open_signed(token)
    except (NotFound, Invalid) as exc:
        return _not_found(exc)
    key = att.thumb_key if thumb else att.key
    resp = FileResponse(
        storage().open(key, "rb"),
        content_type="image/jpeg" if thumb else att.content_type,
    )
    resp["Cache-Control"] = CACHE_CONTROL
    resp["Content-Disposition"] = (
        "inline" if att.content_type != Attachment.Type.PDF or thumb else "attachment"
    )
    return resp


urlpatterns = [
    path("attachments/<int:att_id>/", open_view, name="attachment-open"),
    path("attachments/<int:att_id>/thumb/", thumb_view, name="attachment-thumb"),
    path("attachments/file/<str:token>/", signed_view, name="attachment-signed"),
]
