"""Issue 15, on a 390×844 phone in Chromium: the app installs (manifest, icons, service
worker), a room reloads offline with the last messages seen and the messages still
waiting to send, those are sent exactly once when back online, and an offline check-in
keeps the time it was tapped."""

from __future__ import annotations

import datetime as dt
import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from bots.models import Visit
from rooms.messages import check_post_message
from rooms.models import Message
from tests.support.cast import build_cast
from tests.web.browser import phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def controlled(page) -> None:
    """Wait until the service worker controls the page (first visit: after it claims)."""
    page.wait_for_function("navigator.serviceWorker && !!navigator.serviceWorker.controller")


def online(page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")


def test_manifest_icons_and_worker_are_served_for_installing(browser):
    build_cast()
    server = start_server()
    try:
        m = httpx.get(f"{server.url}/manifest.webmanifest")
        assert m.status_code == 200 and m.headers["content-type"] == "application/manifest+json"
        data = m.json()
        assert data["display"] == "standalone" and data["start_url"] == "/"
        sizes = {i["sizes"] for i in data["icons"]}
        assert {"192x192", "512x512"} <= sizes
        assert any(i.get("purpose") == "maskable" for i in data["icons"])
        for icon in data["icons"]:
            r = httpx.get(server.url + icon["src"])
            assert r.status_code == 200 and r.headers["content-type"] == icon["type"]
        sw = httpx.get(f"{server.url}/sw.js")
        assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
        assert sw.headers["service-worker-allowed"] == "/"
        assert sw.headers["cache-control"] == "no-cache"
        assert re.match(r'const VERSION = "[0-9a-f]{16}";', sw.text)
        fav = httpx.get(f"{server.url}/favicon.ico", follow_redirects=True)
        assert fav.status_code == 200 and fav.headers["content-type"] == "image/png"
    finally:
        server.stop()


def test_a_room_reloads_offline_with_its_messages_and_the_outbox_sends_once(browser):
    cast = build_cast()
    check_post_message(
        person=cast.carol,
        room_id=cast.team.id,
        body="Peggy's GP rang about her tablets",
        client_id="seed-1",
    )
    server = start_server()
    try:
        ctx, anna = phone(browser, server, "anna")
        anna.goto(f"/people/{cast.peggy.id}/team/")
        online(anna)
        controlled(anna)
        expect(anna.locator("li.msg", has_text="GP rang")).to_have_count(1)
        anna.get_by_role("textbox", name="Message").fill("On my way to Peggy")
        anna.get_by_role("button", name="Send").click()
        expect(anna.locator("li.msg:not(.pending)", has_text="On my way")).to_have_count(1)
        # The page the worker kept is the one loaded under its control: load it once more.
        anna.reload()
        online(anna)
        expect(anna.locator("li.msg", has_text="On my way")).to_have_count(1)

        ctx.set_offline(True)
        anna.reload()
        expect(anna.get_by_role("heading", name="Peggy")).to_be_visible()
        expect(anna.locator("#conn")).to_have_attribute("data-state", "offline")
        expect(anna.locator("li.msg", has_text="GP rang")).to_have_count(1)
        expect(anna.locator("li.msg", has_text="On my way")).to_have_count(1)
        anna.get_by_role("textbox", name="Message").fill("Written with no signal")
        anna.get_by_role("button", name="Send").click()
        pending = anna.locator("#outbox li.pending", has_text="no signal")
        expect(pending).to_contain_text("Waiting to send")
        # Reload again, still offline: the message is still waiting, shown once.
        anna.reload()
        expect(anna.locator("#outbox li.pending", has_text="no signal")).to_have_count(1)
        expect(anna.locator("li.msg", has_text="GP rang")).to_have_count(1)
        shot(anna, "17-offline-room")
        assert not Message.objects.filter(body="Written with no signal").exists()

        ctx.set_offline(False)
        online(anna)
        expect(anna.locator("#messages li.msg", has_text="no signal")).to_have_count(1)
        expect(anna.locator("#outbox li")).to_have_count(0)
        anna.reload()
        online(anna)
        expect(anna.locator("li.msg", has_text="no signal")).to_have_count(1)
        assert Message.objects.filter(body="Written with no signal").count() == 1

        # Signing out leaves nothing of the room on the phone for the next person.
        anna.get_by_role("button", name=re.compile("Sign out")).click()
        expect(anna.get_by_label("Username")).to_be_visible()  # the sign-in page
        kept = "caches.keys().then((ks) => ks.filter((k) => k.startsWith('cocare-pages-')))"
        deadline = time.monotonic() + 20
        while anna.evaluate(kept) and time.monotonic() < deadline:
            anna.wait_for_load_state()
        assert anna.evaluate(kept) == []
        ctx.set_offline(True)
        anna.goto(f"/people/{cast.peggy.id}/team/")
        expect(anna.get_by_role("heading", name="You're offline")).to_be_visible()
        expect(anna.get_by_text("GP rang")).to_have_count(0)
        ctx.close()
    finally:
        server.stop()


def test_an_offline_check_in_records_the_time_it_was_tapped(browser):
    cast = build_cast()
    server = start_server()
    try:
        ctx, anna = phone(browser, server, "anna")
        anna.goto(f"/people/{cast.peggy.id}/team/")
        online(anna)
        ctx.set_offline(True)
        expect(anna.locator("#conn")).to_have_attribute("data-state", "offline")
        before = dt.datetime.now(dt.UTC)
        anna.get_by_role("button", name=re.compile("Check in")).click()
        expect(anna.locator("#outbox li.pending", has_text="Check in")).to_contain_text(
            "Waiting to send"
        )
        after = dt.datetime.now(dt.UTC)
        # A measurable signal gap: the phone's clock moves on by at least GAP before the
        # connection comes back (a condition on the page's own clock, not a blind sleep).
        gap = 2.0
        anna.wait_for_function(f"Date.now() >= {(after.timestamp() + gap) * 1000}")
        back = time.time()
        ctx.set_offline(False)
        expect(anna.locator("li.notice", has_text="checked in")).to_have_count(1)
        msg = Message.objects.get(sender=cast.anna, body__contains="Check in")
        tapped = dt.datetime.fromisoformat(msg.payload["tapped_at"])
        assert before - dt.timedelta(seconds=1) <= tapped <= after
        assert msg.created_at.timestamp() >= back - 0.5  # it arrived after the gap
        v = Visit.objects.get()
        assert v.checked_in_at == tapped
        assert v.checkin_received_at == msg.created_at
        assert (v.checkin_received_at - v.checked_in_at).total_seconds() >= gap
        ctx.close()
    finally:
        server.stop()
