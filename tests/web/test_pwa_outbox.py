"""Issue 15: the phone's outbox lives in IndexedDB (web/static/web/offline-store.js).

- A message written with no signal survives the app being closed (the browser profile shut
  down and started again, as a phone does) and is sent exactly once when back online.
- A phone updated from the version that kept the outbox in localStorage loses nothing:
  the old entries move to IndexedDB once, keep their client ids (so one the server already
  has is a duplicate ack, never a second message) and the old key is removed.
"""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from rooms.messages import check_post_message
from rooms.models import Message
from tests.support.cast import PASSWORD, build_cast
from tests.support.live import login_cookies
from tests.web.browser import ARGS, CHROMIUM, HOME, PHONE, outbox_entries, phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_profile(browser, server, profile, cookies):
    """The same phone profile (IndexedDB, service worker, caches) started again."""
    ctx = browser.browser_type.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=ARGS,
        **PHONE,
        base_url=server.url,
        geolocation=HOME,
        permissions=["geolocation"],
    )
    # A signed-in session cookie with an expiry, as Django sets it: it outlives the restart.
    expires = time.time() + 3600
    ctx.add_cookies(
        [{"name": k, "value": v, "url": server.url, "expires": expires} for k, v in cookies.items()]
    )
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    return ctx, page


def test_a_message_written_offline_survives_closing_the_app_and_is_sent_once(browser, tmp_path):
    cast = build_cast()
    server = start_server()
    profile = tmp_path / "phone"
    cookies = login_cookies(server.url, "anna", PASSWORD)
    url = f"/people/{cast.peggy.id}/team/"
    try:
        ctx, anna = open_profile(browser, server, profile, cookies)
        anna.goto(url)
        expect(anna.locator("#conn")).to_have_attribute("data-state", "online")
        anna.wait_for_function("navigator.serviceWorker && !!navigator.serviceWorker.controller")
        anna.reload()  # the page the worker keeps for offline use is one it served
        expect(anna.locator("#conn")).to_have_attribute("data-state", "online")
        ctx.set_offline(True)
        expect(anna.locator("#conn")).to_have_attribute("data-state", "offline")
        anna.get_by_role("textbox", name="Message").fill("Written in the lift, no signal")
        anna.get_by_role("button", name="Send").click()
        expect(anna.locator("#outbox li.pending")).to_contain_text("Waiting to send")
        # The composer clears only once the message is on disk.
        expect(anna.get_by_role("textbox", name="Message")).to_have_value("")
        [entry] = outbox_entries(anna, cast.anna.id)
        cid = entry["frame"]["client_id"]
        ctx.close()  # the app is closed (swiped away) before any signal came back

        ctx, anna = open_profile(browser, server, profile, cookies)
        ctx.set_offline(True)
        anna.goto(url)  # still no signal: the kept page and the outbox, from the phone
        expect(anna.locator("#conn")).to_have_attribute("data-state", "offline")
        pending = anna.locator("#outbox li.pending", has_text="in the lift")
        expect(pending).to_have_count(1)
        expect(anna.locator("#conn")).to_contain_text("1 waiting to send")
        shot(anna, "20-outbox-after-restart")
        assert not Message.objects.filter(body__contains="in the lift").exists()

        ctx.set_offline(False)
        expect(anna.locator("#messages li.msg", has_text="in the lift")).to_have_count(1)
        expect(anna.locator("#outbox li")).to_have_count(0)
        assert outbox_entries(anna, cast.anna.id) == []
        ctx.close()

        # Started once more: nothing is sent again.
        ctx, anna = open_profile(browser, server, profile, cookies)
        anna.goto(url)
        expect(anna.locator("#conn")).to_have_attribute("data-state", "online")
        expect(anna.locator("#messages li.msg", has_text="in the lift")).to_have_count(1)
        rows = list(Message.objects.filter(body__contains="in the lift"))
        assert len(rows) == 1 and rows[0].client_id == cid and rows[0].sender_id == cast.anna.id
        ctx.close()
    finally:
        server.stop()


def test_an_outbox_left_in_local_storage_by_the_previous_version_is_moved_and_sent_once(browser):
    cast = build_cast()
    # One of the two was already stored before the update (its ack was lost): a repeat of
    # its client id must come back as a duplicate, never as a second message.
    check_post_message(
        person=cast.anna, room_id=cast.team.id, body="Already on the server", client_id="wold1"
    )
    old = [
        {
            "cid": cid,
            "frame": {
                "type": "send",
                "room": cast.team.id,
                "client_id": cid,
                "kind": "text",
                "body": body,
            },
            "after": None,
            "at": 1_700_000_000_000 + i,
        }
        for i, (cid, body) in enumerate(
            (("wold1", "Already on the server"), ("wold2", "Kept by the old version"))
        )
    ]
    server = start_server()
    try:
        ctx, anna = phone(browser, server, "anna")
        key = f"cocare.outbox.{cast.anna.id}"
        # The phone as the previous version left it: the page's own storage, set before
        # the updated room page first loads.
        ctx.add_init_script(
            f"if (!sessionStorage.getItem('seeded')) {{ sessionStorage.setItem('seeded', '1');"
            f" localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(old))}); }}"
        )
        anna.goto(f"/people/{cast.peggy.id}/team/")
        expect(anna.locator("#conn")).to_have_attribute("data-state", "online")
        expect(anna.locator("#messages li.msg", has_text="Kept by the old version")).to_have_count(
            1
        )
        expect(anna.locator("#outbox li")).to_have_count(0)
        assert anna.evaluate(f"localStorage.getItem({json.dumps(key)})") is None
        assert outbox_entries(anna, cast.anna.id) == []
        anna.reload()
        expect(anna.locator("#conn")).to_have_attribute("data-state", "online")
        expect(anna.locator("#messages li.msg", has_text="Kept by the old version")).to_have_count(
            1
        )
        assert Message.objects.filter(body="Already on the server").count() == 1
        assert (
            Message.objects.filter(body="Kept by the old version", client_id="wold2").count() == 1
        )
        ctx.close()
    finally:
        server.stop()
