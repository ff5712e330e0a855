"""Done means (issue 17, 2), on phones at 390×844: a nurse takes a photo on the team page
and it is posted; the care worker's open team page shows the thumbnail live; the daughter's
open family page does not, and asking for it by address gets the same 404 as nothing.
A photo taken with no signal is kept, retried with the same client id, and stored once.

The file input is driven as a person picking the camera's photo (``set_input_files``).
Services phase: attachments on a real SeaweedFS S3; embedded phase: local files.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rooms.models import Attachment, Message
from tests.attachments.conftest import has_gps, photo_bytes, services_phase
from tests.support.cast import build_cast
from tests.support.live import ServerProcess
from tests.support.services import subprocess_env
from tests.web.browser import phone, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live(request, settings, tmp_path):
    import os

    from django.db import connection

    from tests.support.services import port_open

    cast = build_cast()
    if services_phase():
        weed = request.getfixturevalue("seaweed")
        location = f"browser{os.getpid()}"
        backend = weed.storage_settings(weed.bucket, location)
        extra = {
            "COCARE_S3_ENDPOINT_URL": weed.endpoint,
            "COCARE_S3_BUCKET": weed.bucket,
            "COCARE_S3_ACCESS_KEY": backend["OPTIONS"]["access_key"],
            "COCARE_S3_SECRET_KEY": backend["OPTIONS"]["secret_key"],
        }
        # The server stores at the bucket root; the test reads what it stored there.
        backend = weed.storage_settings(weed.bucket)
    else:
        root = tmp_path / "attachments"
        root.mkdir()
        extra = {"COCARE_ATTACHMENTS_DIR": str(root)}
        backend = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        }
    settings.STORAGES = {**settings.STORAGES, "attachments": backend}
    redis = (
        connection.vendor == "postgresql"
        and bool(os.environ.get("COCARE_REDIS_URL"))
        and port_open("127.0.0.1", 6379)
    )
    env = subprocess_env(redis=redis, **extra)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = ServerProcess(env, with_workers=True).start()
    contexts = []

    def open_phone(browser, username):
        ctx, page = phone(browser, server, username)
        contexts.append(ctx)
        return page

    yield cast, open_phone
    for ctx in contexts:
        ctx.close()
    server.stop()


THUMB_LOADED = """(id) => {
  const img = document.querySelector(`li[data-attachment="${id}"] img.thumb`);
  return !!img && img.complete && img.naturalWidth > 0;
}"""


def test_nurse_photo_reaches_the_care_workers_open_page_and_not_the_daughters(
    browser,
    live,
    tmp_path,
):
    cast, open_phone = live
    team = f"/people/{cast.peggy.id}/team/"
    anna = open_phone(browser, "anna")
    anna.goto(team)
    debbie = open_phone(browser, "debbie")
    debbie.goto(f"/people/{cast.peggy.id}/family/")
    nadia = open_phone(browser, "nadia")
    nadia.goto(team)
    for page in (anna, debbie, nadia):
        expect(page.locator("#conn")).to_have_text("")  # sockets up before anything happens

    photo = tmp_path / "IMG_0042.jpg"
    photo.write_bytes(photo_bytes(size=(800, 600), colour="firebrick"))
    nadia.get_by_role("textbox", name="Message").fill("Left heel, grade 2, day 3")
    camera = nadia.get_by_label("Take a photo")
    assert camera.get_attribute("capture") == "environment"
    assert camera.get_attribute("accept").startswith("image/*")
    camera.set_input_files(str(photo))

    item = anna.locator("#messages li.msg.attachment")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Left heel, grade 2, day 3")
    expect(item).to_contain_text("Nadia")
    att = Attachment.objects.get()
    expect(item.locator("img.thumb")).to_be_visible()
    # The thumbnail really loaded: access check, then the signed URL, then the bytes.
    for page in (anna, nadia):
        page.wait_for_function(THUMB_LOADED, arg=att.id)
    shot(anna, "17-care-worker-sees-the-nurses-photo")

    # The daughter's open family page shows nothing of it; asking by address is a 404
    # exactly like an attachment that does not exist.
    expect(debbie.locator("li.msg.attachment")).to_have_count(0)
    expect(debbie.locator("img.thumb")).to_have_count(0)
    mine = debbie.request.get(f"/attachments/{att.id}/thumb/", max_redirects=0)
    none = debbie.request.get("/attachments/987654/thumb/", max_redirects=0)
    assert (mine.status, mine.json()) == (404, none.json()) and none.status == 404
    assert debbie.request.get(f"/api/attachments/{att.id}").status == 404

    # What was stored: one photo with its thumbnail, no GPS.
    from rooms.attachments import storage

    with storage().open(att.key, "rb") as f:
        assert not has_gps(f.read())
    msg = Message.objects.get(kind="attachment")
    assert msg.sender_id == cast.nadia.id and msg.body == "Left heel, grade 2, day 3"


def test_a_photo_taken_with_no_signal_is_sent_once_when_back(browser, live, tmp_path):
    cast, open_phone = live
    team = f"/people/{cast.peggy.id}/team/"
    anna = open_phone(browser, "anna")
    anna.goto(team)
    expect(anna.locator("#conn")).to_have_text("")

    anna.context.set_offline(True)
    photo = tmp_path / "pipe.jpg"
    photo.write_bytes(photo_bytes(colour="navy"))
    anna.get_by_role("textbox", name="Message").fill("Leak under the kitchen sink")
    anna.get_by_label("Take a photo").set_input_files(str(photo))
    pending = anna.locator("#outbox li.upload")
    expect(pending).to_contain_text("Leak under the kitchen sink")
    expect(pending).to_contain_text("Waiting for signal")
    shot(anna, "18-photo-waiting-for-signal")
    assert not Attachment.objects.exists()

    anna.context.set_offline(False)
    expect(anna.locator("#messages li.msg.attachment")).to_have_count(1)
    expect(pending).to_have_count(0)
    assert Attachment.objects.count() == 1
    assert Message.objects.filter(kind="attachment").count() == 1
