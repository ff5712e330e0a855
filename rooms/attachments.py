"""Photos and files in the record: storing, posting, opening and purging (docs/attachments.md).

Write path — :func:`post_attachment` (structural) and :func:`check_post_attachment` (a
person: the room's ``POST`` check first):

- the bytes are checked and cleaned by :func:`rooms.attachment_files.process` (type from
  the bytes, metadata stripped, thumbnail made); a refused file raises ``BadFile`` before
  anything is stored or written;
- idempotent on ``(uploader, client_id)``: a retry whose first attempt committed returns
  the stored entry and stores nothing; the object key is derived from that pair
  (:func:`object_key`), so a retry whose first attempt died after storing, or two racing
  attempts, overwrite one object instead of adding a second;
- the ``Attachment`` row and its ``attachment`` entry (through
  :func:`rooms.messages.post_message`, the one write path, so seq, fan-out and the
  workers' poke are the log's) commit together.

Reads — :func:`access_attachment` asks :func:`rooms.access.access_room` for ``READ`` on
the entry's room and applies the member's visible history; every refusal (no such id,
another room, another tenant, hidden history, redacted or purged) is the same
``NotFound("No such attachment.")``. The bytes are served only through short-lived signed
URLs (:func:`signed_url`): S3 presigned ``GET`` on object storage, a Django-signed token
otherwise; both answer with ``Cache-Control: private, no-store``.

Retention — :func:`mark_purged` (in the purge transaction) and
:func:`delete_purged_objects` (after it, retried on every run until the delete succeeded).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.module_loading import import_string

from cocare_chat import clock
from cocare_chat.config import get_config
from rooms.access import Action, access_room
from rooms.attachment_files import Processed, process
from rooms.errors import Conflict, Invalid, NotFound
from rooms.messages import Posted, post_message
from rooms.models import Attachment, Message, Person, Room

log = logging.getLogger(__name__)

SIGNING_SALT = "cocare.attachments"
NOT_FOUND = "No such attachment."
CACHE_CONTROL = "private, no-store"
MAX_CAPTION = 2000


def storage() -> Storage:
    return storages["attachments"]


def is_s3(st: Storage | None = None) -> bool:
    return hasattr(st or storage(), "bucket_name")


@functools.cache
def _public_signer(endpoint: str) -> Storage:
    """An S3 storage used only to presign for ``endpoint`` (signing needs no network)."""
    options = dict(settings.STORAGES["attachments"].get("OPTIONS", {}))
    return import_string(settings.STORAGES["attachments"]["BACKEND"])(
        **(options | {"endpoint_url": endpoint})
    )


def object_key(room_id: int, uploader_id: int, client_id: str) -> str:
    """Where ``(uploader, client_id)``'s upload is stored: the same key on every retry.

    Keyed with the secret so keys reveal nothing and cannot be guessed from ids.
    """
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"{uploader_id}:{client_id}".encode(), hashlib.sha256
    ).hexdigest()[:40]
    return f"rooms/{room_id}/{digest}"


def _put(st: Storage, key: str, content: bytes, content_type: str) -> None:
    """Write ``content`` at exactly ``key`` (overwriting: never a suffixed second copy)."""
    f = ContentFile(content)
    f.content_type = content_type  # django-storages sends it as the object's Content-Type
    if not is_s3(st) and st.exists(key):
        st.delete(key)  # FileSystemStorage would otherwise save under a new name
    name = st.save(key, f)
    if name != key:  # pragma: no cover - a storage that renames would break idempotency
        raise RuntimeError("attachment storage renamed the object")


def _existing(sender: Person, client_id: str, room: Room) -> Posted | None:
    att = (
        Attachment.objects.select_related("message", "message__sender")
        .filter(uploader=sender, client_id=client_id)
        .first()
    )
    if att is None:
        if Message.objects.filter(sender=sender, client_id=client_id).exists():
            raise Conflict("client_id was already used for another message.")
        return None
    if att.room_id != room.pk:
        raise Conflict("client_id was already used for another room.")
    if att.message is None:  # pragma: no cover - row and entry commit together
        raise Conflict("client_id is in use.")
    return Posted(att.message, created=False)


def post_attachment(
    *,
    room: Room,
    sender: Person,
    data: bytes,
    client_id: str,
    caption: str = "",
    now: dt.datetime | None = None,
) -> Posted:
    """Store one photo or file and append its ``attachment`` entry. No access check.

    Idempotent on ``(sender, client_id)``; raises ``BadFile``/``Invalid`` (nothing stored,
    nothing written) or ``Conflict`` (client id already used elsewhere).
    """
    if not (1 <= len(client_id) <= 64):
        raise Invalid("client_id must be 1 to 64 characters.")
    caption = (caption or "").strip()
    if len(caption) > MAX_CAPTION:
        raise Invalid(f"The caption is too long ({len(caption)}; the limit is {MAX_CAPTION}).")
    if "\x00" in caption:
        raise Invalid("The caption contains a NUL character.")
    retried = _existing(sender, client_id, room)
    if retried is not None:
        return retried
    cfg = get_config()
    done = process(data, max_bytes=cfg.attachment_max_bytes, max_pixels=cfg.attachment_max_pixels)
    key = object_key(room.pk, sender.pk, client_id)
    st = storage()
    _put(st, key, done.content, done.content_type)
    if done.thumb is not None:
        _put(st, key + ".thumb", done.thumb, "image/jpeg")
    now = now or clock.now()
    try:
        with transaction.atomic():
            return _write(room, sender, client_id, caption, key, done, now)
    except IntegrityError:
        # A racing attempt with the same client id committed first: it stored the same key.
        retried = _existing(sender, client_id, room)
        if retried is None:
            raise
        return retried


def _write(
    room: Room,
    sender: Person,
    client_id: str,
    caption: str,
    key: str,
    done: Processed,
    now: dt.datetime,
) -> Posted:
    att = Attachment.objects.create(
        room=room,
        uploader=sender,
        client_id=client_id,
        content_type=done.content_type,
        key=key,
        thumb_key=key + ".thumb" if done.thumb is not None else "",
        size=len(done.content),
        width=done.width,
        height=done.height,
        sha256=done.sha256,
        created_at=now,
    )
    posted = post_message(
        room=room,
        sender=sender,
        kind=Message.Kind.ATTACHMENT,
        body=caption,
        payload={
            "attachment": att.id,
            "content_type": done.content_type,
            "size": len(done.content),
            "width": done.width,
            "height": done.height,
            "thumb": done.thumb is not None,
        },
        client_id=client_id,
        now=now,
    )
    if not posted.created:  # the entry's client id was taken by another kind of entry
        raise Conflict("client_id was already used for another message.")
    att.message = posted.message
    att.save(update_fields=["message"])
    return posted


def check_post_attachment(
    *,
    person: Person,
    room_id: int,
    data: bytes,
    client_id: str,
    caption: str = "",
    now: dt.datetime | None = None,
) -> Posted:
    """A person attaches a photo or file: the room's POST right, then ``post_attachment``."""
    room, _ = access_room(person, room_id, Action.POST)
    return post_attachment(
        room=room, sender=person, data=data, client_id=client_id, caption=caption, now=now
    )


def access_attachment(person: Person | None, attachment_id: int) -> Attachment:
    """An attachment the person may open now; NotFound (one text) for every refusal."""
    att = (
        Attachment.objects.select_related("message", "room", "room__service_user")
        .filter(pk=attachment_id)
        .first()
    )
    if att is None or att.message is None or att.message.redacted_at or att.purged_at:
        raise NotFound(NOT_FOUND)
    try:
        _, membership = access_room(person, att.room_id, Action.READ)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    if att.message.seq <= membership.visible_from_seq:
        raise NotFound(NOT_FOUND)
    return att


@dataclass(frozen=True)
class Signed:
    url: str
    expires_in: int


def signed_url(att: Attachment, *, thumb: bool = False, ttl: int | None = None) -> Signed:
    """A URL that serves the object (or its thumbnail) for ``ttl`` seconds, to anyone
    holding it: call only after :func:`access_attachment`."""
    ttl = ttl or get_config().attachment_url_seconds
    if thumb and not att.thumb_key:
        raise NotFound(NOT_FOUND)
    key = att.thumb_key if thumb else att.key
    content_type = "image/jpeg" if thumb else att.content_type
    st = storage()
    if is_s3(st):
        public = get_config().s3_public_endpoint_url
        signer = _public_signer(public) if public else st
        url = signer.url(
            key,
            parameters={
                "ResponseCacheControl": CACHE_CONTROL,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": "inline",
            },
            expire=ttl,
        )
        return Signed(url, ttl)
    token = signing.dumps({"a": att.id, "t": int(thumb)}, salt=SIGNING_SALT, compress=False)
    return Signed(reverse("attachment-signed", args=[token]), ttl)


def open_signed(token: str) -> tuple[Attachment, bool]:
    """The attachment (and whether the thumbnail) a local signed token grants, if unexpired.

    Raises NotFound for an expired, forged or purged one (the same answer as unknown).
    """
    try:
        data = signing.loads(token, salt=SIGNING_SALT, max_age=get_config().attachment_url_seconds)
        att_id, thumb = int(data["a"]), bool(data["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise NotFound(NOT_FOUND) from None
    att = Attachment.objects.filter(pk=att_id, purged_at__isnull=True).first()
    if att is None or (thumb and not att.thumb_key):
        raise NotFound(NOT_FOUND)
    return att, thumb


def attachment_wire(att: Attachment) -> dict:
    return {
        "id": att.id,
        "room": att.room_id,
        "seq": att.message.seq if att.message else None,
        "content_type": att.content_type,
        "size": att.size,
        "width": att.width,
        "height": att.height,
        "thumb": bool(att.thumb_key),
    }


# ---- retention ---------------------------------------------------------------------------


def mark_purged(message: Message, now: dt.datetime) -> int:
    """In the retention purge's transaction: the entry's attachment is no longer served.
    The objects go in :func:`delete_purged_objects`, after that transaction commits."""
    return Attachment.objects.filter(message=message, purged_at__isnull=True).update(purged_at=now)


def delete_purged_objects(now: dt.datetime, limit: int = 1000) -> int:
    """Delete the stored objects of purged attachments; idempotent, retried next run on
    a storage error (``deleted_at`` is set only after both deletes succeeded)."""
    st = storage()
    done = 0
    rows = Attachment.objects.filter(purged_at__isnull=False, deleted_at__isnull=True)
    for att in rows.order_by("id")[:limit]:
        try:
            for key in (att.key, att.thumb_key):
                if key:
                    st.delete(key)
        except Exception as exc:  # storage down: keep the row for the next run
            log.warning("attachment %s: delete failed (%s)", att.id, type(exc).__name__)
            continue
        Attachment.objects.filter(pk=att.pk).update(deleted_at=now)
        done += 1
    return done
