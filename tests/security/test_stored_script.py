"""Stored script never runs in the web app: hostile text renders as text, in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rooms.messages import check_post_message
from tests.support.cast import build_cast
from tests.web.browser import phone, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload="window.__xss=3">',
    "javascript:window.__xss=4",
    '<a href="javascript:window.__xss=5">tap me</a>',
]


def test_script_in_messages_and_key_information_renders_as_text(browser):
    cast = build_cast()
    cast.peggy.preferences = '<img src=x onerror="window.__xss=6"> tea'
    cast.peggy.save()
    for i, body in enumerate(PAYLOADS):
        check_post_message(person=cast.anna, room_id=cast.family.id, body=body, client_id=f"x{i}")
        check_post_message(person=cast.anna, room_id=cast.team.id, body=body, client_id=f"t{i}")
    server = start_server()
    dialogs: list[str] = []
    try:
        for who, path in (
            ("debbie", f"/people/{cast.peggy.id}/family/"),
            ("anna", f"/people/{cast.peggy.id}/team/"),
        ):
            ctx, page = phone(browser, server, who)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(path)
            for body in PAYLOADS:
                expect(page.get_by_text(body, exact=True).first).to_be_visible()
            if who == "anna":
                expect(page.get_by_text("tea", exact=False).first).to_be_attached()
            # Click every link the messages produced: none may run script.
            for link in page.locator("#messages a, .messages a").all():
                href = link.get_attribute("href") or ""
                assert not href.lower().startswith("javascript:")
            assert page.evaluate("window.__xss === undefined")
            assert page.locator("img[src='x'], svg[onload]").count() == 0
            ctx.close()
    finally:
        server.stop()
    assert dialogs == []
