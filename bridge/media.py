"""Photos and files across the bridge (docs/attachments.md, docs/matrix.md).

CoCare -> Matrix: :func:`media_uri_for` uploads an ``attachment`` entry's stored object
to the homeserver's media repository once (``MediaUpload``, one per attachment) and the
sender posts ``m.image`` (photos) or ``m.file`` (PDF) pointing at it. A purged or missing
attachment is not sent.

Matrix -> CoCare: an ``m.image``/``m.file`` from a linked member who may post is recorded
by :func:`queue_inbound` in the appservice transaction (no network there) as an
``InboundMedia`` row; :class:`MediaFetcher` (a worker) downloads it through the
authenticated media API, re-checks the member's right to post, and stores it through
``rooms.attachments.post_attachment`` — the same rules as an upload from the phone page
(type sniffed from the bytes, metadata stripped, size and pixel limits), idempotent on the
event's client id. A refused file gets a bridge-bot notice in reply saying why; a download
the homeserver refuses is retried with backoff, then recorded failed (with a notice).
Encrypted media (``file`` instead of ``url``) is never fetched.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, Q
from pydantic import Field

from bridge.conf import BridgeConfig
from bridge.events import Lenient
from bridge.matrix import MatrixClient, MatrixRefused, MatrixUnavailable
from bridge.models import BridgeAction, EventLink, InboundMedia, MediaUpload
from bridge.reconcile import backoff_seconds
from cocare_chat.config import get_config
from rooms import publish
from rooms.access import Action, allowed
from rooms.attachments import post_attachment, storage
from rooms.errors import CoCareError
from rooms.models import Attachment, Message

log = logging.getLogger(__name__)
KEPT_MSGTYPES = {"m.image", "m.file"}
EXT = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
NOT_RECORDED = "Not added to the CoCare record: {why}"


class MediaContent(Lenient):
    """The part of an ``m.image``/``m.file`` event we use (unencrypted media only)."""

    msgtype: str
    body: str = Field(default="", max_length=100_000)
    filename: str | None = Field(default=None, max_length=255)
    url: str = Field(pattern=r"^mxc://[^/]+/[A-Za-z0-9_\-]+$", max_length=255)


def filename_for(att_content_type: str) -> str:
    kind = "photo" if att_content_type.startswith("image/") else "document"
    return f"{kind}.{EXT.get(att_content_type, 'bin')}"


def media_uri_for(client: MatrixClient, msg: Message, now: dt.datetime) -> str | None:
    """The ``mxc://`` of ``msg``'s attachment, uploading it the first time; None when it
    must not cross (purged, redacted, or not an attachment entry)."""
    att = Attachment.objects.filter(message=msg, purged_at__isnull=True).first()
    if att is None or msg.redacted_at is not None:
        return None
    done = MediaUpload.objects.filter(attachment=att).values_list("mxc_uri", flat=True).first()
    if done:
        return done
    with storage().open(att.key, "rb") as f:
        data = f.read()
    uri = client.upload(data, att.content_type, filename_for(att.content_type))
    MediaUpload.objects.get_or_create(attachment=att, defaults={"mxc_uri": uri, "uploaded_at": now})
    return MediaUpload.objects.get(attachment=att).mxc_uri


def media_content(content: dict) -> MediaContent | None:
    """The event's media if it is a photo or file CoCare can fetch, else None."""
    if content.get("msgtype") not in KEPT_MSGTYPES or "file" in content:
        return None
    try:
        return MediaContent.model_validate(content)
    except ValueError:
        return None


def caption_of(media: MediaContent) -> str:
    """Matrix (spec 1.10): ``body`` is a caption only when ``filename`` is set and differs."""
    if media.filename and media.body and media.body != media.filename:
        return media.body[:2000]
    return ""


def queue_inbound(
    *,
    event_id: str,
    matrix_room_id: str,
    sender: str,
    room_id: int,
    person_id: int,
    client_id: str,
    media: MediaContent,
    now: dt.datetime,
) -> InboundMedia:
    """Record a member's photo/file for the fetcher (idempotent on the event id)."""
    row, _ = InboundMedia.objects.get_or_create(
        event_id=event_id,
        defaults={
            "matrix_room_id": matrix_room_id,
            "sender": sender,
            "room_id": room_id,
            "person_id": person_id,
            "mxc_uri": media.url,
            "client_id": client_id,
            "caption": caption_of(media),
            "created_at": now,
        },
    )
    publish.poke_workers_on_commit()  # the fetcher runs at once, not at its next poll
    return row


class MediaFetcher:
    """Worker: fetch queued Matrix media and store it as attachments (``run_once``)."""

    name = "bridge.media"

    def __init__(self, cfg: BridgeConfig, client: MatrixClient | None = None):
        self.cfg = cfg
        self.client = client or MatrixClient(cfg)

    def run_once(self, now: dt.datetime) -> int:
        due = InboundMedia.objects.filter(status=InboundMedia.Status.PENDING).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        )
        done = 0
        for row in due.select_related("room", "person").order_by("id")[:20]:
            try:
                done += self._fetch(row, now)
            except MatrixUnavailable as exc:
                if exc.status is None:  # the homeserver is down: try again next pass
                    self._retry(row, now, "unavailable")
                    break
                self._retry(row, now, str(exc))
            except Exception as exc:  # storage down, or a bug: this row waits, others go on
                error = type(exc).__name__
                log.warning("bridge.media: inbound %s failed (%s)", row.pk, error)
                if row.attempts + 1 >= self.cfg.max_attempts:
                    self._refuse(row, now, "the file could not be stored.", error, failed=True)
                else:
                    self._retry(row, now, error)
        return done

    def _fetch(self, row: InboundMedia, now: dt.datetime) -> int:
        InboundMedia.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
        if not allowed(row.person, row.room, Action.POST):
            self._finish(row, now, InboundMedia.Status.REFUSED, "not_allowed")
            return 1
        limit = get_config().attachment_max_bytes
        try:
            data = self.client.download(row.mxc_uri, max_bytes=limit)
        except MatrixRefused as exc:
            if exc.errcode == "M_TOO_LARGE":
                why = f"the file is larger than CoCare keeps ({limit / 1048576:g} MB)."
                self._refuse(row, now, why, "too_large")
                return 1
            if row.attempts + 1 >= self.cfg.max_attempts:
                self._refuse(row, now, "the file could not be fetched.", exc.errcode, failed=True)
                return 1
            self._retry(row, now, exc.errcode)
            return 0
        try:
            with transaction.atomic():
                posted = post_attachment(
                    room=row.room,
                    sender=row.person,
                    data=data,
                    client_id=row.client_id,
                    caption=row.caption,
                    now=now,
                )
                EventLink.objects.get_or_create(
                    event_id=row.event_id,
                    defaults={"message": posted.message, "direction": EventLink.Direction.INBOUND},
                )
                InboundMedia.objects.filter(pk=row.pk).update(
                    status=InboundMedia.Status.DONE, message=posted.message, done_at=now
                )
        except CoCareError as exc:  # a file CoCare does not keep: say why, in Matrix
            self._refuse(row, now, exc.message, exc.code)
        return 1

    def _retry(self, row: InboundMedia, now: dt.datetime, error: str) -> None:
        delay = backoff_seconds(row.attempts + 1, self.cfg.retry_max_seconds)
        InboundMedia.objects.filter(pk=row.pk).update(
            next_attempt_at=now + dt.timedelta(seconds=delay), last_error=error[:100]
        )

    def _finish(self, row: InboundMedia, now: dt.datetime, status: str, error: str) -> None:
        InboundMedia.objects.filter(pk=row.pk).update(
            status=status, last_error=error[:100], done_at=now
        )

    def _refuse(
        self, row: InboundMedia, now: dt.datetime, why: str, error: str, failed: bool = False
    ) -> None:
        with transaction.atomic():
            status = InboundMedia.Status.FAILED if failed else InboundMedia.Status.REFUSED
            self._finish(row, now, status, error)
            BridgeAction.objects.get_or_create(
                key=f"drop:{row.event_id}"[:300],
                defaults={
                    "kind": BridgeAction.Kind.NOTICE,
                    "matrix_room_id": row.matrix_room_id,
                    "user_id": row.sender,
                    "body": NOT_RECORDED.format(why=why),
                    "reply_to_event_id": row.event_id,
                    "created_at": now,
                },
            )
