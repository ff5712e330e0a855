"""Photos and files in the record: stored clean, opened only by the room's members, through
short-lived signed URLs, once per client id, and deleted with their entry by retention.

Each test runs on local files and on a real SeaweedFS S3 (the ``store`` fixture).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import time
import zlib
from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client
from PIL import Image

from cocare_chat import clock
from cocare_chat.config import get_config
from rooms import attachments
from rooms.models import Attachment, AuditEvent, Message
from rooms.retention import apply_retention, place_hold, set_policy
from tests.attachments.conftest import client_for, has_gps, photo_bytes, upload
from tests.support.cast import T0


def fetch(store, url: str, client: Client | None = None):
    """GET a signed URL as a browser would (no session cookie is needed or sent)."""
    if "://" in url and not url.startswith("http://testserver"):
        r = httpx.get(url, timeout=10)
        return r.status_code, r.headers.get("cache-control"), r.content
    c = client or Client(raise_request_exception=False)
    r = c.get(urlsplit(url).path)
    body = b"".join(r.streaming_content) if r.streaming else r.content
    return r.status_code, r.get("Cache-Control"), body


def test_team_room_photo_is_stored_without_gps_and_opened_only_by_the_team(cast, store):
    nadia = client_for(cast.nadia)
    original = photo_bytes()
    assert has_gps(original)
    r = upload(nadia, cast.team.id, original, "wound-1", caption="Heel pressure sore, grade 2")
    assert r.status_code == 201, r.content
    att = Attachment.objects.get()
    assert r.json()["attachment"] == att.id
    assert store.keys() == sorted([att.key, att.key + ".thumb"])

    stored = store.read(att.key)
    assert stored.startswith(b"\xff\xd8\xff") and not has_gps(stored)
    assert Image.open(io.BytesIO(stored)).size == (640, 480)
    assert Image.open(io.BytesIO(store.read(att.thumb_key))).size == (320, 240)

    # The entry: kind attachment, caption as body, in the history the team reads.
    msg = Message.objects.get(kind="attachment")
    assert msg.body == "Heel pressure sore, grade 2" and msg.payload["attachment"] == att.id
    hist = client_for(cast.anna).get(f"/api/rooms/{cast.team.id}/messages").json()
    assert [m["kind"] for m in hist["messages"]] == ["attachment"]

    unknown = client_for(cast.anna).get("/api/attachments/999999")
    assert unknown.status_code == 404
    for who in (cast.anna, cast.nadia, cast.tom, cast.carol):
        r = client_for(who).get(f"/api/attachments/{att.id}")
        assert r.status_code == 200, who
        assert r.json()["content_type"] == "image/jpeg"
        status, cache, body = fetch(store, r.json()["url"])
        assert (status, cache, body) == (200, "private, no-store", stored)
    refused = [
        cast.debbie,
        cast.margaret,
        cast.colin,
        cast.outsider_worker,
        cast.other_manager,
        cast.other_worker,
        cast.far_manager,
        cast.far_nurse,
        cast.rita,
    ]
    for who in refused:
        r = client_for(who).get(f"/api/attachments/{att.id}")
        assert (r.status_code, r.json()) == (404, unknown.json()), who
        page = client_for(who).get(f"/attachments/{att.id}/thumb/")
        assert page.status_code == 404 and page.json() == unknown.json(), who
    opens = AuditEvent.objects.filter(action="attachment.open", target=f"attachment:{att.id}")
    assert {e.actor_id for e in opens} == {cast.anna.id, cast.nadia.id, cast.tom.id, cast.carol.id}


def test_family_room_photo_is_seen_by_family_and_care_worker_not_the_nurse(cast, store):
    r = upload(client_for(cast.debbie), cast.family.id, photo_bytes(colour="orange"), "good-day")
    assert r.status_code == 201, r.content
    att_id = r.json()["attachment"]
    assert client_for(cast.anna).get(f"/api/attachments/{att_id}").status_code == 200
    assert client_for(cast.margaret).get(f"/api/attachments/{att_id}").status_code == 200
    assert client_for(cast.nadia).get(f"/api/attachments/{att_id}").status_code == 404
    # and nobody outside the room can post into it
    r = upload(client_for(cast.nadia), cast.family.id, photo_bytes(), "nope")
    assert r.status_code == 404
    assert Attachment.objects.count() == 1


def test_the_page_link_redirects_to_a_signed_url_that_expires(cast, store, monkeypatch):
    nadia = client_for(cast.nadia)
    att_id = upload(nadia, cast.team.id, photo_bytes(), "wound-2").json()["attachment"]
    monkeypatch.setattr(get_config(), "attachment_url_seconds", 2)
    if store.kind == "s3":
        monkeypatch.setitem(
            __import__("django.conf").conf.settings.STORAGES["attachments"]["OPTIONS"],
            "querystring_expire",
            2,
        )
    r = nadia.get(f"/attachments/{att_id}/")
    assert r.status_code == 302 and r["Cache-Control"] == "private, no-store"
    url = r["Location"]
    assert fetch(store, url)[0] == 200
    deadline = time.monotonic() + 15
    while fetch(store, url)[0] == 200:
        assert time.monotonic() < deadline, "signed URL still valid after its lifetime"
        time.sleep(0.25)  # polling for expiry, not synchronisation
    assert fetch(store, url)[0] in (403, 404)
    # A fresh, access-checked request gets a fresh URL that works again.
    assert fetch(store, nadia.get(f"/attachments/{att_id}/")["Location"])[0] == 200


def test_a_retried_upload_stores_one_object_and_one_entry(cast, store, monkeypatch):
    nadia = client_for(cast.nadia)
    photo = photo_bytes()
    # First attempt: the object is stored, then the connection "drops" before the entry
    # commits (the server fails after storing).
    real_write = attachments._write
    calls = {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("signal lost")
        return real_write(*a, **kw)

    monkeypatch.setattr(attachments, "_write", flaky)
    assert upload(nadia, cast.team.id, photo, "retry-me").status_code == 500
    assert Attachment.objects.count() == 0 and len(store.keys()) == 2
    first = upload(nadia, cast.team.id, photo, "retry-me")
    again = upload(nadia, cast.team.id, photo, "retry-me")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]
    assert Attachment.objects.count() == 1
    assert Message.objects.filter(kind="attachment").count() == 1
    assert len(store.keys()) == 2  # the photo and its thumbnail, once
    # The same client id in another room is a conflict, not a second photo.
    other = upload(client_for(cast.anna), cast.family.id, photo, "retry-me")
    assert other.status_code == 201  # another sender: another key
    assert upload(nadia, cast.family.id, photo, "retry-me").status_code == 404


def test_heic_from_an_iphone_is_kept_as_jpeg_without_metadata(cast, store):
    img = Image.new("RGB", (400, 300), "purple")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    out = io.BytesIO()
    img.save(out, "HEIF", exif=exif.tobytes())
    r = upload(client_for(cast.anna), cast.team.id, out.getvalue(), "heic-1", name="IMG.HEIC")
    assert r.status_code == 201, r.content
    att = Attachment.objects.get()
    assert att.content_type == "image/jpeg" and (att.width, att.height) == (400, 300)
    stored = store.read(att.key)
    assert stored.startswith(b"\xff\xd8\xff") and not has_gps(stored)


def test_a_pdf_is_kept_and_served_without_a_thumbnail(cast, store):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    r = upload(client_for(cast.carol), cast.team.id, pdf, "letter", name="discharge.pdf")
    assert r.status_code == 201, r.content
    body = client_for(cast.nadia).get(f"/api/attachments/{r.json()['attachment']}").json()
    assert body["content_type"] == "application/pdf" and body["thumb_url"] is None
    assert fetch(store, body["url"])[2] == pdf


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge canvas: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _real_bomb() -> bytes:
    """A real one: a valid 9000×9000 PNG of one colour (81 megapixels) in ~100 kB."""
    out = io.BytesIO()
    Image.new("L", (9000, 9000), 0).save(out, "PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "fragment"),
    [
        ("photo.jpg", lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "cannot be attached"),
        ("photo.jpg", lambda: b"MZ\x90\x00" + b"\x00" * 200, "cannot be attached"),
        ("notes.pdf", lambda: b"#!/bin/sh\nrm -rf /\n", "cannot be attached"),
        ("empty.jpg", lambda: b"", "empty (0 bytes)"),
        ("big.jpg", lambda: photo_bytes(size=(1200, 900)), "too large"),
        ("bomb.png", lambda: _png_header_only(50_000, 50_000), "the limit is 60 megapixels"),
        ("bomb2.png", _real_bomb, "too large (9000×9000 pixels; the limit is 60 megapixels)"),
        ("cut.jpg", lambda: photo_bytes()[:300], "damaged"),
        ("fake.pdf", lambda: b"%PDF-1.4\nno end", "damaged"),
    ],
)
def test_bad_files_get_a_clear_error_and_store_nothing(
    cast, store, monkeypatch, name, make, fragment
):
    data = make()
    if name == "big.jpg":
        monkeypatch.setattr(get_config(), "attachment_max_bytes", len(data) - 1)
    r = upload(client_for(cast.nadia), cast.team.id, data, "bad-1", name=name)
    assert r.status_code == 422, r.content
    assert r.json()["error"] == "invalid" and fragment in r.json()["message"], r.json()
    if name == "big.jpg":
        assert f"the limit is {(len(data) - 1) / 1048576:g} MB" in r.json()["message"]
    assert store.keys() == []
    assert not Attachment.objects.exists() and not Message.objects.exists()


def test_odd_form_input_is_refused_with_nothing_written(cast, store):
    nadia = client_for(cast.nadia)
    url = f"/api/rooms/{cast.team.id}/attachments"
    assert nadia.post(url, {"client_id": "x"}).status_code == 422  # no file
    r = upload(nadia, cast.team.id, photo_bytes(), "bad id with spaces")
    assert r.status_code == 422 and "client_id" in r.json()["message"]
    r = upload(nadia, cast.team.id, photo_bytes(), "long-caption", caption="x" * 2001)
    assert r.status_code == 422 and "caption" in r.json()["message"]
    r = upload(nadia, 2**70, photo_bytes(), "huge-room")
    assert r.status_code in (404, 422)
    assert Client().post(url, {"client_id": "anon"}).status_code == 401
    assert store.keys() == [] and not Attachment.objects.exists()


def test_retention_deletes_the_stored_object_and_legal_hold_keeps_it(cast, store):
    clock.freeze(T0)
    nadia = client_for(cast.nadia)
    old = upload(nadia, cast.team.id, photo_bytes(), "old-wound").json()["attachment"]
    reg = upload(client_for(cast.far_nurse), cast.reg_team.id, photo_bytes(), "reg-1")
    assert reg.status_code == 201
    held = reg.json()["attachment"]
    old_att, held_att = Attachment.objects.get(pk=old), Attachment.objects.get(pk=held)
    assert len(store.keys()) == 4

    now = T0 + dt.timedelta(days=40)
    set_policy(cast.provider, 30, now=now)
    set_policy(cast.far_provider, 30, now=now)
    place_hold(cast.reg, by=cast.far_manager, reason="inquest", now=now)
    result = apply_retention(now)
    assert result.objects_deleted == 1

    assert store.keys() == sorted([held_att.key, held_att.thumb_key])
    msg = Message.objects.get(pk=old_att.message_id)
    assert msg.redacted_at is not None and msg.payload == {} and msg.body == ""
    assert client_for(cast.anna).get(f"/api/attachments/{old}").status_code == 404
    assert client_for(cast.far_worker).get(f"/api/attachments/{held}").status_code == 200
    # Idempotent: a second run finds nothing more to do.
    assert apply_retention(now).objects_deleted == 0


def test_no_photo_can_be_added_once_the_persons_care_has_ended(cast, store):
    """Archiving makes both rooms read-only for every kind of entry, photos included."""
    from rooms.network import do_archive_service_user

    do_archive_service_user(cast.peggy, by=cast.carol, now=T0)
    r = upload(client_for(cast.nadia), cast.team.id, photo_bytes(), "after-archive")
    assert r.status_code == 403, r.content
    assert r.json()["error"] == "archived"
    assert not Attachment.objects.exists() and store.keys() == []
