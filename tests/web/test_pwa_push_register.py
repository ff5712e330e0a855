"""Issue 15: turning push on from the notifications page with Firebase configured.

The Firebase JS SDK is loaded from our own static files (nothing from gstatic.com) and
Google's endpoints are stubbed at the browser's network layer. What cannot run here is
the browser's own push subscription: Chromium refuses the Push API in Playwright's
(incognito) contexts, and in a persistent profile it waits for Google's push service,
which this machine cannot reach. So this test checks the honest failure: the person is
told, nothing is registered, nothing is fetched from Google's CDN, no crash.
(docs/phone-app.md "Tests".)
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from rooms.models import PushDevice
from tests.support.cast import build_cast
from tests.support.services import ROOT
from tests.web.browser import phone, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FIREBASE = {
    "COCARE_FCM_WEB_API_KEY": "AIzaSyTestKeyForCoCare0000000000000000",
    "COCARE_FCM_PROJECT_ID": "cocare-test",
    "COCARE_FCM_WEB_SENDER_ID": "123456789012",
    "COCARE_FCM_WEB_APP_ID": "1:123456789012:web:0123456789abcdef",
    # A valid P-256 public key (base64url, uncompressed point) for applicationServerKey.
    "COCARE_FCM_WEB_VAPID_KEY": (
        "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
    ),
}


def stub_google(route) -> None:
    url = route.request.url
    if "firebaseinstallations.googleapis.com" in url:
        body = {
            "name": "projects/123456789012/installations/fid-1",
            "fid": "cXJ0eXVpb3BhcwAAAAAAAA",
            "refreshToken": "refresh-1",
            "authToken": {"token": "auth-1", "expiresIn": "604800s"},
        }
    elif "fcmregistrations.googleapis.com" in url:
        body = {"token": "fcm-registration-token-from-the-stub"}
    else:
        route.abort()
        return
    route.fulfill(status=200, content_type="application/json", body=json.dumps(body))


def test_with_firebase_configured_turning_push_on_loads_the_local_sdk_and_fails_clearly(
    browser, monkeypatch
):
    if not (ROOT / "web/vendor/firebase/firebase-messaging.js").exists():
        pytest.fail("web/vendor/firebase missing: run scripts/vendor-static.sh")
    for k, v in FIREBASE.items():
        monkeypatch.setenv(k, v)
    cast = build_cast()
    server = start_server()
    try:
        ctx, debbie = phone(browser, server, "debbie")
        ctx.grant_permissions(["notifications"], origin=server.url)
        seen: list[str] = []
        ctx.on("request", lambda r: seen.append(r.url))
        ctx.route("https://**/*", stub_google)
        debbie.goto("/me/notifications/")
        debbie.wait_for_function("navigator.serviceWorker && !!navigator.serviceWorker.controller")
        status = debbie.locator("#push-status")
        expect(status).to_have_text("Notifications are off for this phone.")
        debbie.get_by_role("button", name="Turn on notifications").click()
        expect(status).to_have_text(
            "Could not reach the notification service. Try again when you have signal."
        )
        expect(debbie.get_by_role("button", name="Turn on notifications")).to_be_enabled()
        assert f"{server.url}/static/firebase/firebase-messaging.js" in seen
        assert f"{server.url}/static/firebase/firebase-app.js" in seen
        assert not [u for u in seen if "gstatic.com" in u]
        assert not PushDevice.objects.filter(person=cast.debbie).exists()
        ctx.close()
    finally:
        server.stop()
