"""The bridge's media rules without a homeserver: how an attachment is rendered for Matrix,
which Matrix media events are fetched, captions, and the health check for stuck fetches."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge import health
from bridge.media import caption_of, media_content, queue_inbound
from bridge.render import render
from rooms.health import Thresholds
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
