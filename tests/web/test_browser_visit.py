"""Done means (issue 6): on a phone, a care worker checks in with the browser's
geolocation, checks out and answers the bot's three cards with one tap each; the family
member's open page shows the arrival and the departure live."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from bots.models import Observation, PlannedVisit, Visit
from cocare_chat import clock
from rooms.models import Message
from tests.support.cast import PASSWORD, build_cast
from tests.web.browser import HOME, phone, shot, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_sideways_scroll(page) -> None:
    """Reflow (WCAG 1.4.10): nothing wider than the viewport, as at 200% zoom on a laptop."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_care_worker_visit_on_a_phone_and_family_sees_it_live(browser):
    cast = build_cast()
    now = clock.now()
    PlannedVisit.objects.create(
        service_user=cast.peggy,
        worker=cast.anna,
        window_start=now - dt.timedelta(minutes=10),
        window_end=now + dt.timedelta(minutes=50),
        expected_minutes=30,
        missed_check_at=now + dt.timedelta(hours=2),
        created_at=now,
        updated_at=now,
    )
    server = start_server()
    try:
        # Debbie, the daughter, has the family page open on her phone.
        dctx, debbie = phone(browser, server, "debbie")
        debbie.goto(f"/people/{cast.peggy.id}/")
        expect(debbie).to_have_url(re.compile(r"/family/$"))
        expect(debbie.get_by_role("link", name="Team")).to_have_count(0)

        # Anna signs in on her phone and opens today's visit.
        actx, anna = phone(browser, server, None)
        anna.goto("/login/")
        shot(anna, "01-sign-in")
        anna.get_by_label("Username").fill("anna")
        anna.get_by_label("Password").fill(PASSWORD)
        anna.get_by_role("button", name="Sign in").click()
        expect(anna.get_by_role("heading", name="Today's visits")).to_be_visible()
        shot(anna, "02-home-care-worker")
        anna.get_by_role("link", name=re.compile("Peggy")).first.click()
        expect(anna).to_have_url(re.compile(r"/team/$"))
        no_sideways_scroll(anna)

        # "Also share with family": the team message, then its family twin.
        anna.get_by_role("textbox", name="Message").fill("Peggy is in good spirits today")
        anna.get_by_label("Also share with family").check()
        anna.get_by_role("button", name="Send").click()
        shared = debbie.locator("li.msg", has_text="good spirits")
        expect(shared).to_have_count(1)
        expect(shared).to_contain_text("shared from the team")
        # Reply, then edit the reply: Debbie never sees the team room, Anna sees the edit.
        mine = anna.locator("li.msg.mine", has_text="good spirits")
        mine.get_by_role("button", name="Actions for your message").click()
        mine.get_by_role("button", name="Reply").click()
        anna.get_by_role("textbox", name="Message").fill("She wants to go out later")
        anna.get_by_role("button", name="Send").click()
        found = anna.locator("li.msg.mine", has_text="go out later")
        expect(found.locator("blockquote")).to_contain_text("good spirits")
        reply = anna.locator(f'li.msg[data-seq="{found.get_attribute("data-seq")}"]')
        reply.get_by_role("button", name="Actions for your message").click()
        reply.get_by_role("button", name="Edit").click()
        anna.get_by_role("textbox", name="Message").fill("She wants to sit in the garden later")
        anna.get_by_role("button", name="Send").click()
        expect(reply.locator(".text")).to_have_text("She wants to sit in the garden later")
        expect(reply).to_contain_text("edited")

        # A phone at the door has a fresh fix: an emulated one is stamped when it is set,
        # and the page refuses a position older than ~10 s (chat.js POSITION_MAX_AGE_MS),
        # which the steps above can exceed on a loaded machine.
        actx.set_geolocation(HOME)
        anna.get_by_role("button", name="Check in").click()
        key = anna.locator("li.keyinfo-card")
        expect(key).to_contain_text("Tea, one sugar")
        expect(anna.locator("li.notice", has_text="checked in")).to_be_visible()
        shot(anna, "03-checked-in-key-info")
        arrived = debbie.locator("li.notice.visit", has_text="Anna arrived")
        expect(arrived).to_have_count(1)

        actx.set_geolocation(HOME)
        anna.get_by_role("button", name="Check out").click()
        for n in range(1, 4):
            card = anna.locator("li.card.question").nth(n - 1)
            expect(card).to_contain_text(f"Question {n} of 3")
            if n == 1:
                shot(anna, "04-bot-card")
            card.locator("button.option").first.click()
            expect(card).to_have_class(re.compile(r"\banswered\b"))
        expect(anna.locator("li.notice", has_text="that's all for today")).to_be_visible()
        shot(anna, "05-cards-answered")

        left = debbie.locator("li.notice.visit", has_text="Anna left")
        expect(left).to_have_count(1)
        expect(arrived).to_have_count(1)
        shot(debbie, "06-family-arrival-departure")

        team_msg = Message.objects.get(room=cast.team, body="Peggy is in good spirits today")
        twin = Message.objects.get(room=cast.family, body="Peggy is in good spirits today")
        assert twin.payload == {"shared_from": team_msg.id}
        assert twin.client_id == f"{team_msg.client_id}.f"
        assert not Message.objects.filter(room=cast.family, body__contains="garden").exists()

        visit = Visit.objects.get()
        assert visit.checkin_location == "in_range" and visit.checked_out_at is not None
        assert visit.planned_visit is not None
        obs = Observation.objects.filter(visit=visit)
        assert obs.count() == 3 and {o.answered_by_id for o in obs} == {cast.anna.id}
        located = Message.objects.filter(sender=cast.anna, payload__has_key="location")
        assert sorted(m.body for m in located) == ["Check in", "Check out"]
        assert all(m.payload["location"]["accuracy"] == 12 for m in located)
        actx.close()
        dctx.close()
    finally:
        server.stop()
