"""Issue 15 ticks, two phones at 390×844: sent -> delivered -> read by all.

"Delivered" means the message reached a room page of the member's app (shown or not:
scrolled up, in the background); the app open elsewhere (the home page) does not receive
messages and does not count (docs/phone-app.md "Ticks"). "Read" means it was on screen.
A member who left and a family member who joined after the message never count.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rooms.messages import post_message
from rooms.models import Message, ReadPosition, Role
from rooms.network import do_add_member, do_record_family_basis, do_remove_member
from rooms.summaries import receipts
from tests.support.cast import build_cast, person
from tests.web.browser import phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOT_AT_BOTTOM = """() => { const l = document.getElementById('log');
  return l.scrollHeight - l.scrollTop - l.clientHeight > 300; }"""


def positions(room, who) -> tuple[int, int]:
    pos = ReadPosition.objects.filter(room=room, person=who).first()
    return (pos.seq, pos.delivered_seq) if pos else (0, 0)


def test_ticks_go_sent_delivered_read_and_leavers_and_late_joiners_do_not_count(browser):
    cast = build_cast()
    for i in range(30):
        post_message(room=cast.family, sender=cast.anna, body=f"Earlier update {i}")
    # Margaret and Carol leave the family room: only Debbie counts for Anna's new messages.
    do_remove_member(cast.family, cast.margaret, by=cast.carol)
    do_remove_member(cast.family, cast.carol, by=None)
    assert {r["person"] for r in receipts(cast.family)} == {cast.anna.id, cast.debbie.id}
    server = start_server()
    contexts = []
    try:
        ctx, debbie = phone(browser, server, "debbie")
        contexts.append(ctx)
        ctx, anna = phone(browser, server, "anna")
        contexts.append(ctx)
        url = f"/people/{cast.peggy.id}/family/"
        debbie.goto("/")  # the app open, but on the home page
        anna.goto(url)
        expect(anna.locator("#conn")).to_have_text("")
        anna.get_by_role("textbox", name="Message").fill("Soup for lunch today")
        anna.get_by_role("button", name="Send").click()
        soup = anna.locator("li.msg.mine", has_text="Soup for lunch").locator(".ticks")
        expect(soup).to_have_attribute("data-tick", "sent")
        soup_seq = Message.objects.get(body="Soup for lunch today").seq
        debbie.reload()  # her home page knows of it, but has not received the message
        expect(debbie.locator("a.room-link", has_text="Family").locator(".unread")).to_be_visible()
        assert positions(cast.family, cast.debbie) == (0, 0)
        expect(soup).to_have_attribute("data-tick", "sent")

        # She opens the room: it arrives, is on screen, read.
        debbie.goto(url)
        expect(debbie.locator("li.msg", has_text="Soup for lunch")).to_be_visible()
        expect(soup).to_have_attribute("data-tick", "all")
        expect(soup).to_have_attribute("title", "Read by all")

        # She scrolls back through the day; Anna's next message arrives below, unseen.
        debbie.locator("#log").hover()
        debbie.mouse.wheel(0, -4000)
        debbie.wait_for_function(NOT_AT_BOTTOM)
        anna.get_by_role("textbox", name="Message").fill("Tea at three with Mrs Cole")
        anna.get_by_role("button", name="Send").click()
        tea = anna.locator("li.msg.mine", has_text="Tea at three").locator(".ticks")
        expect(tea).to_have_attribute("data-tick", "delivered")
        expect(tea).to_have_attribute("title", "Delivered")
        tea_seq = Message.objects.get(body="Tea at three with Mrs Cole").seq
        expect(debbie.locator("li.msg", has_text="Tea at three")).to_have_count(1)
        expect(debbie.locator("li.msg", has_text="Tea at three")).not_to_be_in_viewport()
        read, delivered = positions(cast.family, cast.debbie)
        assert soup_seq <= read < tea_seq <= delivered
        shot(anna, "21-tick-delivered")

        # Dora joins now: her history starts after the message, so she does not hold it up.
        dora = person("dora", "Dora Hughes", Role.FAMILY, None)
        do_record_family_basis(cast.peggy, dora, "consent", by=cast.carol)
        do_add_member(cast.family, dora, by=cast.carol, notify=False)
        anna.reload()  # a fresh page counts from the stored positions and members
        tea = anna.locator("li.msg.mine", has_text="Tea at three").locator(".ticks")
        expect(tea).to_have_attribute("data-tick", "delivered")
        assert positions(cast.family, cast.debbie)[0] < tea_seq  # still not read

        # Debbie scrolls down to it: read by all (Dora, Carol and Margaret never counted).
        debbie.mouse.wheel(0, 8000)
        expect(debbie.locator("li.msg", has_text="Tea at three")).to_be_in_viewport()
        expect(tea).to_have_attribute("data-tick", "all")
        assert positions(cast.family, cast.debbie)[0] >= tea_seq
    finally:
        for c in contexts:
            c.close()
        server.stop()
