"""Against a real Synapse (Done means 3 of issue 17): a photo posted in CoCare reaches the
Matrix client as ``m.image`` (a PDF as ``m.file``), attributed to its author's puppet and
downloadable through the authenticated media API; a photo a linked nurse sends from her
Matrix client comes into CoCare as an attachment through the same rules (metadata
stripped, the room's access), and a file CoCare does not keep is refused with a notice in
Matrix saying why. Runs on local files and on SeaweedFS S3 (the ``store`` fixture).
"""

from __future__ import annotations

import httpx
import pytest

from bridge.media import MediaFetcher
from bridge.models import EventLink, InboundEvent, InboundMedia, MediaUpload, OutboxEntry
from cocare_chat import clock
from rooms.attachments import check_post_attachment
from rooms.models import Attachment, Message
from tests.attachments.conftest import (  # noqa: F401 - fixtures
    client_for,
    has_gps,
    photo_bytes,
    seaweed,
    store,
)
from tests.bridge.conftest import wait_until
from tests.bridge.nio_helpers import linked_nurse_in_team_room, timeline

pytestmark = [pytest.mark.synapse, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def settled(*event_ids: str) -> None:
    """Wait until Synapse has pushed our own events back to the appservice (as echoes), so
    no push is still being handled when the test's database is flushed."""
    wait_until(
        lambda: InboundEvent.objects.filter(event_id__in=event_ids).count() == len(event_ids),
        what="the echoes at the appservice",
    )


def download(matrix, client, mxc: str) -> httpx.Response:
    server, media_id = mxc.removeprefix("mxc://").split("/")
    return httpx.get(
        f"{matrix.synapse.url}/_matrix/client/v1/media/download/{server}/{media_id}",
        headers={"Authorization": f"Bearer {client.access_token}"},
        timeout=20,
    )


def upload(matrix, client, data: bytes, content_type: str, name: str) -> str:
    r = httpx.post(
        f"{matrix.synapse.url}/_matrix/media/v3/upload",
        params={"filename": name},
        content=data,
        headers={"Authorization": f"Bearer {client.access_token}", "Content-Type": content_type},
        timeout=20,
    )
    assert r.status_code == 200, r.text
    return r.json()["content_uri"]


def test_a_cocare_photo_reaches_the_matrix_client_as_m_image(matrix, cast, run, store):  # noqa: F811 - fixture
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    photo = check_post_attachment(
        person=cast.anna,
        room_id=cast.team.id,
        data=photo_bytes(size=(640, 480)),
        client_id="sink-photo",
        caption="New medicine box on the kitchen table",
    ).message
    doc = check_post_attachment(
        person=cast.carol, room_id=cast.team.id, data=PDF, client_id="letter"
    ).message
    bridge.drain()

    def event_of(msg):
        eid = OutboxEntry.objects.get(message=msg).event_id
        return next((e for e in timeline(run, nurse, room_id) if e["event_id"] == eid), None)

    image = wait_until(lambda: event_of(photo), what="the photo in Matrix")
    content = image["content"]
    assert image["sender"] == matrix.cfg.puppet_user_id(cast.anna.id)
    assert content["msgtype"] == "m.image"
    assert content["body"] == "New medicine box on the kitchen table"
    assert content["filename"] == "photo.jpg"
    assert content["info"]["mimetype"] == "image/jpeg"
    assert (content["info"]["w"], content["info"]["h"]) == (640, 480)
    att = Attachment.objects.get(message=photo)
    got = download(matrix, nurse, content["url"])
    assert got.status_code == 200 and got.content == store.read(att.key)
    assert not has_gps(got.content)

    file_event = wait_until(lambda: event_of(doc), what="the PDF in Matrix")
    assert file_event["content"]["msgtype"] == "m.file"
    assert file_event["content"]["info"]["mimetype"] == "application/pdf"
    assert download(matrix, nurse, file_event["content"]["url"]).content == PDF

    # A resend of the entry (replayed outbox) reuses the upload: one media file per photo.
    bridge.drain()
    assert OutboxEntry.objects.get(message=photo).status == "sent"
    assert MediaUpload.objects.count() == 2
    settled(image["event_id"], file_event["event_id"])


def test_a_matrix_photo_from_a_linked_nurse_becomes_an_attachment(matrix, cast, run, store):  # noqa: F811 - fixture
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    original = photo_bytes(size=(500, 400), colour="tan")
    assert has_gps(original)
    mxc = upload(matrix, nurse, original, "image/jpeg", "IMG_0031.jpg")
    sent = run(
        nurse.room_send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.image",
                "body": "Pressure area, left hip",
                "filename": "IMG_0031.jpg",
                "url": mxc,
                "info": {"mimetype": "image/jpeg", "size": len(original)},
            },
        )
    ).event_id
    queued = wait_until(
        lambda: InboundMedia.objects.filter(event_id=sent).first(), what="the photo queued"
    )
    assert InboundEvent.objects.get(event_id=sent).reason == "media_queued"
    fetcher = MediaFetcher(matrix.cfg)
    assert fetcher.run_once(clock.now()) == 1
    queued.refresh_from_db()
    assert queued.status == "done"

    att = Attachment.objects.get()
    msg = Message.objects.get(pk=att.message_id)
    assert (msg.kind, msg.sender_id, msg.body) == (
        "attachment",
        cast.nadia.id,
        "Pressure area, left hip",
    )
    assert EventLink.objects.get(event_id=sent).message_id == msg.id
    stored = store.read(att.key)
    assert stored.startswith(b"\xff\xd8\xff") and not has_gps(stored)
    assert client_for(cast.anna).get(f"/api/attachments/{att.id}").status_code == 200
    assert client_for(cast.debbie).get(f"/api/attachments/{att.id}").status_code == 404

    # Not echoed back to Matrix; and a second fetch pass changes nothing.
    bridge.drain()
    assert not OutboxEntry.objects.filter(message=msg, status="sent").exists()
    assert fetcher.run_once(clock.now()) == 0
    assert Attachment.objects.count() == 1


def test_a_matrix_file_cocare_does_not_keep_is_refused_with_a_notice(matrix, cast, run, store):  # noqa: F811 - fixture
    nurse, bridge, room_id = linked_nurse_in_team_room(matrix, cast, run)
    exe = b"\x7fELF\x02\x01\x01" + b"\x00" * 500
    mxc = upload(matrix, nurse, exe, "image/jpeg", "holiday.jpg")
    sent = run(
        nurse.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.image", "body": "holiday.jpg", "url": mxc},
        )
    ).event_id
    wait_until(lambda: InboundMedia.objects.filter(event_id=sent).exists(), what="queued")
    MediaFetcher(matrix.cfg).run_once(clock.now())
    assert InboundMedia.objects.get(event_id=sent).status == "refused"
    assert not Attachment.objects.exists() and store.keys() == []

    def notice():
        return next(
            (
                e
                for e in timeline(run, nurse, room_id)
                if e["sender"] == matrix.cfg.bot_user_id
                and (e["content"].get("m.relates_to") or {}).get("m.in_reply_to")
                == {"event_id": sent}
            ),
            None,
        )

    found = wait_until(notice, step=bridge.drain, what="the bridge bot's notice")
    settled(found["event_id"])
    assert found["content"]["body"].startswith(
        "Not added to the CoCare record: This type of file cannot be attached"
    )
