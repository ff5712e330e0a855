"""The bridge's media rules without a homeserver: how an attachment is rendered for Matrix,
which Matrix media events are fetched, captions, and the health check for stuck fetches."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge import health
from bridge import media as media_mod
from bridge.media import MediaFetcher, caption_of, media_content, queue_inbound
from bridge.models import BridgeAction, InboundMedia
from bridge.render import render
from rooms.health import Thresholds
from rooms.models import Attachment
from rooms.network import check_remove_member
from tests.attachments.conftest import photo_bytes
from tests.bridge.conftest import make_config
from tests.support.cast import T0

PHOTO = {
    "attachment": 7,
    "content_type": "image/jpeg",
    "size": 2048,
    "width": 640,
    "height": 480,
    "thumb": True,
}


def test_a_photo_is_an_m_image_with_its_caption_and_a_pdf_an_m_file():
    r = render(
        kind="attachment", body="New pill box", payload=PHOTO, txn_id="t1", media_uri="mxc://s/a"
    )
    assert r.content == {
        "msgtype": "m.image",
        "body": "New pill box",
        "filename": "photo.jpg",
        "url": "mxc://s/a",
        "info": {"mimetype": "image/jpeg", "size": 2048, "w": 640, "h": 480},
        "org.cocare.txn": "t1",
    }
    pdf = {"attachment": 8, "content_type": "application/pdf", "size": 99}
    r = render(kind="attachment", body="", payload=pdf, txn_id="t2", media_uri="mxc://s/b")
    assert (r.content["msgtype"], r.content["body"]) == ("m.file", "document.pdf")
    # Not uploaded (purged, missing): nothing crosses.
    assert render(kind="attachment", body="x", payload=PHOTO, txn_id="t3") is None


@pytest.mark.parametrize(
    ("content", "fetched"),
    [
        ({"msgtype": "m.image", "body": "a.jpg", "url": "mxc://hs.example/AbC_1-2"}, True),
        ({"msgtype": "m.file", "body": "a.pdf", "url": "mxc://hs.example/x"}, True),
        ({"msgtype": "m.video", "body": "a.mp4", "url": "mxc://hs.example/x"}, False),
        ({"msgtype": "m.image", "body": "a.jpg", "file": {"url": "mxc://hs/x"}}, False),
        ({"msgtype": "m.image", "body": "a.jpg", "url": "https://evil.example/a.jpg"}, False),
        ({"msgtype": "m.image", "body": "a.jpg", "url": "mxc://hs/../../etc"}, False),
        ({"msgtype": "m.image", "body": "a.jpg"}, False),
        ({"msgtype": "m.image", "body": "a.jpg", "url": 12}, False),
    ],
)
def test_only_unencrypted_mxc_photos_and_files_are_fetched(content, fetched):
    assert (media_content(content) is not None) is fetched


def test_the_body_is_a_caption_only_beside_a_different_filename():
    def cap(**c):
        return caption_of(media_content({"msgtype": "m.image", "url": "mxc://h/x", **c}))

    assert cap(body="Left hip", filename="IMG_1.jpg") == "Left hip"
    assert cap(body="IMG_1.jpg", filename="IMG_1.jpg") == ""
    assert cap(body="IMG_1.jpg") == ""


def test_a_photo_from_matrix_waiting_too_long_is_reported_by_health(cast):
    media = media_content({"msgtype": "m.image", "body": "a", "url": "mxc://h/x"})
    row = queue_inbound(
        event_id="$e1",
        matrix_room_id="!r:h",
        sender="@nadia:h",
        room_id=cast.team.id,
        person_id=cast.nadia.id,
        client_id="mx:1",
        media=media,
        now=T0,
    )
    again = queue_inbound(
        event_id="$e1",
        matrix_room_id="!r:h",
        sender="@nadia:h",
        room_id=cast.team.id,
        person_id=cast.nadia.id,
        client_id="mx:1",
        media=media,
        now=T0,
    )
    assert again.pk == row.pk  # idempotent on the event id
    found = [
        f
        for f in health.checks(T0 + dt.timedelta(minutes=5), Thresholds())
        if f.subject == "bridge.media inbound"
    ]
    assert len(found) == 1 and str(row.pk) in found[0].detail
    assert not [
        f
        for f in health.checks(T0 + dt.timedelta(seconds=30), Thresholds())
        if f.subject == "bridge.media inbound"
    ]


class StubClient:
    """Stands in for the homeserver's media download only (the real one is in test_media)."""

    def __init__(self, data: bytes):
        self.data = data

    def download(self, mxc_uri: str, max_bytes: int) -> bytes:
        return self.data


def _queued(cast, event_id="$e2"):
    media = media_content({"msgtype": "m.image", "body": "a", "url": "mxc://h/x"})
    return queue_inbound(
        event_id=event_id,
        matrix_room_id="!r:h",
        sender="@nadia:h",
        room_id=cast.team.id,
        person_id=cast.nadia.id,
        client_id=f"mx:{event_id}",
        media=media,
        now=T0,
    )


def test_a_storage_failure_holds_only_that_photo_and_ends_in_a_notice(cast, monkeypatch):

    row = _queued(cast)

    def broken(**kw):
        raise OSError("storage down")

    monkeypatch.setattr(media_mod, "post_attachment", broken)
    fetcher = MediaFetcher(make_config(max_attempts=2), client=StubClient(photo_bytes()))
    fetcher.run_once(T0)
    row.refresh_from_db()
    assert (row.status, row.last_error, row.next_attempt_at > T0) == ("pending", "OSError", True)
    fetcher.run_once(row.next_attempt_at)
    row.refresh_from_db()
    assert row.status == InboundMedia.Status.FAILED
    notice = BridgeAction.objects.get(key="drop:$e2")
    assert notice.body == "Not added to the CoCare record: the file could not be stored."


def test_a_member_removed_before_the_fetch_gets_nothing_recorded(cast):

    row = _queued(cast, "$e3")
    check_remove_member(cast.carol, cast.team.id, cast.nadia.id)
    MediaFetcher(make_config(), client=StubClient(photo_bytes())).run_once(T0)
    row.refresh_from_db()
    assert (row.status, row.last_error) == (InboundMedia.Status.REFUSED, "not_allowed")
    assert not Attachment.objects.exists()
