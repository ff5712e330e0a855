"""Issue 15: a family member joins from an invitation link in a real browser, as a person
does — the manager creates and copies the link on the members page, a fresh phone opens it,
creates an account (the form's POST passes Django's CSRF origin check: the page no longer
makes Chromium send ``Origin: null``) and chats in the family room."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from rooms.models import Membership, Message, Person
from tests.support.cast import build_cast
from tests.web.browser import phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "lilac-harbour-71"


def test_invitation_created_on_the_page_is_completed_in_a_fresh_browser_and_she_chats(browser):
    cast = build_cast()
    server = start_server()
    try:
        # Debbie has the family room open: she will see the newcomer's first message live.
        dctx, debbie = phone(browser, server, "debbie")
        debbie.goto(f"/people/{cast.peggy.id}/family/")
        expect(debbie.locator("#conn")).to_have_attribute("data-state", "online")

        cctx, carol = phone(browser, server, "carol")
        cctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        carol.goto(f"/people/{cast.peggy.id}/")
        carol.get_by_role("link", name="Members").click()
        form = carol.get_by_role("region", name="Invite a family member or friend")
        form.get_by_label("Their name").fill("Sam Hughes")
        form.get_by_label("Relationship (for example: daughter)").fill("grandson")
        # His own lawful basis, recorded with the invitation (per family member).
        form.get_by_label("Lawful basis for sharing with them").select_option("consent")
        form.get_by_label("Notes (for consent: who agreed, when)").fill("Peggy agreed today")
        form.get_by_label("Review by").fill("2027-06-01")
        form.get_by_role("button", name="Create invitation link").click()
        expect(carol.get_by_role("heading", name="Invitation ready for Sam Hughes")).to_be_visible()
        link = carol.get_by_label("Invitation link").input_value()
        assert re.fullmatch(rf"{re.escape(server.url)}/invite/[\w-]{{40,}}/", link), link
        # Share where the phone can (Web Share API); here, as on most desktops, copy.
        has_share = carol.evaluate("typeof navigator.share === 'function'")
        expect(carol.get_by_role("button", name="Share link")).to_be_visible(visible=has_share)
        carol.get_by_role("button", name="Copy link").click()
        expect(carol.locator("#invite-share-status")).to_contain_text("Link copied")
        assert carol.evaluate("navigator.clipboard.readText()") == link
        shot(carol, "15-invitation-link")

        # Sam opens the pasted link on his own phone: no cookies, no session.
        sctx, sam = phone(browser, server, None)
        posted: list[int] = []
        sam.on(
            "response",
            lambda r: posted.append(r.status) if r.request.method == "POST" else None,
        )
        sam.goto(link)
        expect(sam.get_by_role("heading", name="Welcome, Sam Hughes")).to_be_visible()
        sam.get_by_label("Choose a username").fill("sam")
        sam.get_by_label("Choose a password").fill(NEW_PASSWORD)
        sam.get_by_label("Type the password again").fill(NEW_PASSWORD)
        sam.get_by_role("button", name="Create account and join").click()
        expect(sam).to_have_url(f"{server.url}/")
        assert posted and posted[0] == 302, posted  # not 403 "Origin checking failed"
        expect(sam.get_by_text("CSRF")).to_have_count(0)

        sam.get_by_role("link", name=re.compile("Peggy")).first.click()
        expect(sam).to_have_url(re.compile(r"/family/$"))
        expect(sam.get_by_role("link", name="Team")).to_have_count(0)
        expect(sam.locator("#conn")).to_have_attribute("data-state", "online")
        sam.get_by_role("textbox", name="Message").fill("Hello Nan, it's Sam")
        sam.get_by_role("button", name="Send").click()
        expect(debbie.locator("li.msg", has_text="Hello Nan, it's Sam")).to_contain_text(
            "Sam Hughes"
        )
        shot(sam, "16-invitee-chatting")

        person = Person.objects.get(user__username="sam")
        assert list(
            Membership.objects.filter(person=person, removed_at__isnull=True).values_list(
                "room__kind", flat=True
            )
        ) == ["family"]
        assert Message.objects.filter(sender=person, body="Hello Nan, it's Sam").count() == 1
        for ctx in (dctx, cctx, sctx):
            ctx.close()
    finally:
        server.stop()
