"""Issue 15: a push reaches the phone's service worker and shows generic text only; a tap
opens the room. The push is the one the server queued for a real message (the running
workers wrote it to the outbox), shaped as FCM delivers it, and handed to the service
worker over CDP (``ServiceWorker.deliverPushMessage``) — the step FCM itself would do."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from escalation import push
from escalation.models import Notification
from rooms.messages import check_post_message
from rooms.models import PushDevice
from tests.support.cast import T0, build_cast
from tests.web.browser import phone, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SECRET = "Mum fell on the stairs and her hip hurts"


def wait_for(fn, what: str, timeout: float = 20.0, page=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        if page is not None:
            page.evaluate("1")  # let Playwright dispatch pending CDP events
    raise AssertionError(f"timed out waiting for {what}")


def fcm_web_push(n: Notification) -> dict:
    """The JSON FCM hands a web push subscription for our message (escalation/push.py)."""
    room = n.message.room
    text = push.RoomPush(
        service_user_id=room.service_user_id,
        service_user_name=room.service_user.name,
        family=room.kind == "family",
    )
    return {
        "data": push.payload_for(n.id, text),
        "notification": {"title": push.GENERIC_TITLE, "body": text.body},
        "from": "1234",
        "fcmMessageId": f"m-{n.id}",
    }


def test_a_push_shows_generic_text_and_a_tap_opens_the_room(browser):
    cast = build_cast()
    PushDevice.objects.create(
        person=cast.debbie, token="debbie-phone-token", token_hash="d" * 64, created_at=T0
    )
    server = start_server()
    try:
        ctx, debbie = phone(browser, server, "debbie")
        ctx.grant_permissions(["notifications"], origin=server.url)
        debbie.goto("/")
        debbie.wait_for_function("navigator.serviceWorker && !!navigator.serviceWorker.controller")
        cdp = ctx.new_cdp_session(debbie)
        regs: dict[str, str] = {}
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda ev: regs.update(
                {r["scopeURL"]: r["registrationId"] for r in ev["registrations"]}
            ),
        )
        cdp.send("ServiceWorker.enable")
        reg_id = wait_for(lambda: regs.get(f"{server.url}/"), "the registration", page=debbie)

        # Anna writes in the family room; the server's workers queue Debbie's push.
        msg = check_post_message(
            person=cast.anna, room_id=cast.family.id, body=SECRET, client_id="push-1"
        ).message
        n = wait_for(
            lambda: (
                Notification.objects.filter(message=msg, recipient=cast.debbie, status="recorded")
                .select_related("message__room__service_user")
                .first()
            ),
            "the queued push",
        )
        payload = fcm_web_push(n)
        assert SECRET not in json.dumps(payload)

        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": server.url, "registrationId": reg_id, "data": json.dumps(payload)},
        )
        shown_js = (
            "navigator.serviceWorker.ready.then((r) => r.getNotifications())"
            ".then((ns) => ns.map((x) => ({title: x.title, body: x.body, url: x.data.url})))"
        )
        shown = wait_for(lambda: debbie.evaluate(shown_js), "the notification")
        assert shown == [
            {
                "title": "CoCare",
                "body": f"New message in {cast.peggy.name}'s family room",
                "url": f"/people/{cast.peggy.id}/family/",
            }
        ]

        # The tap: the worker's own notificationclick handler, given the real notification.
        [sw] = [w for w in ctx.service_workers if w.url.endswith("/sw.js")]
        sw.evaluate(
            """async () => {
                const [n] = await self.registration.getNotifications();
                self.dispatchEvent(new NotificationEvent("notificationclick", { notification: n }));
            }"""
        )
        expect(debbie).to_have_url(re.compile(rf"/people/{cast.peggy.id}/family/$"))
        expect(debbie.locator("li.msg", has_text="fell on the stairs")).to_have_count(1)
        assert debbie.evaluate(shown_js) == []  # the tapped notification is closed
        ctx.close()
    finally:
        server.stop()


def test_the_notifications_page_without_firebase_says_push_is_not_set_up(browser):
    build_cast()
    server = start_server()
    try:
        ctx, anna = phone(browser, server, "anna")
        anna.goto("/")
        anna.get_by_role("link", name="Notifications").click()
        expect(anna.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
        expect(anna.get_by_text("Push notifications are not set up")).to_be_visible()
        expect(anna.get_by_role("button", name="Turn on notifications")).to_have_count(0)
        anna.get_by_label("Quiet from").fill("22:00")
        anna.get_by_label("Quiet until").fill("07:00")
        anna.get_by_role("button", name="Save").click()
        expect(anna.get_by_text("Saved.")).to_be_visible()
        expect(anna.get_by_label("Quiet from")).to_have_value("22:00")
        ctx.close()
    finally:
        server.stop()
