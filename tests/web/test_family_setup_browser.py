"""Through the pages, as people do (Playwright on Chromium, a real Daphne with workers):

Carol, Peggy's care manager, stops sharing with Debbie on the members page while Debbie's
family page is open on her phone: Debbie's page says she no longer has access and the
next family message never appears there; Dan, her brother with his own basis, sees it.
Carol then invites Sam with his consent recorded, changes the key information, sets an
on-call deputy and previews the escalation policy.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from bots.schedule import LOCAL_TZ
from escalation.models import OnCallShift
from rooms.models import FamilyBasis, KeyInfoVersion, Role
from rooms.network import do_add_member, do_record_family_basis
from tests.support.cast import build_cast, person
from tests.web.browser import phone, shot, start_server
from web.models import Invitation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_runs_family_sharing_key_info_and_on_call_from_the_pages(browser):
    cast = build_cast()
    dan = person("dan", "Dan Hughes", Role.FAMILY, None)
    do_record_family_basis(cast.peggy, dan, "consent", by=cast.carol, notes="Peggy agreed")
    do_add_member(cast.family, dan, by=cast.carol, notify=False)
    dev = person("dev", "Dev Deputy", Role.CARE_MANAGER, cast.provider)
    server = start_server()
    try:
        pages = {}
        for who in ("debbie", "dan", "anna", "carol"):
            pages[who] = phone(browser, server, who)[1]
        for who in ("debbie", "dan"):
            pages[who].goto(f"/people/{cast.peggy.id}/family/")
        anna = pages["anna"]
        anna.goto(f"/people/{cast.peggy.id}/family/")
        anna.get_by_role("textbox", name="Message").fill("Peggy enjoyed her lunch")
        anna.get_by_role("button", name="Send").click()
        for who in ("debbie", "dan"):
            expect(pages[who].locator("li.msg", has_text="enjoyed her lunch")).to_have_count(1)

        carol = pages["carol"]
        carol.goto(f"/people/{cast.peggy.id}/manage/members/")
        shot(carol, "h14b-01-members", full_page=True)
        carol.get_by_role("button", name="Stop sharing with Debbie Hughes").click()
        expect(carol.get_by_role("status").first).to_contain_text("Sharing stopped")
        expect(pages["debbie"].locator("#note")).to_contain_text("no longer have access")
        anna.get_by_role("textbox", name="Message").fill("The nurse is coming at three")
        anna.get_by_role("button", name="Send").click()
        expect(pages["dan"].locator("li.msg", has_text="nurse is coming")).to_have_count(1)
        expect(pages["debbie"].locator("li.msg", has_text="nurse is coming")).to_have_count(0)
        assert FamilyBasis.objects.get(person=cast.debbie).revoked_by == cast.carol

        # Invite Sam with his consent recorded.
        form = carol.get_by_role("region", name="Invite a family member or friend")
        form.get_by_label("Their name").fill("Sam Hughes")
        form.get_by_label("Relationship (for example: daughter)").fill("grandson")
        form.get_by_label("Lawful basis for sharing with them").select_option("consent")
        form.get_by_label("Notes (for consent: who agreed, when)").fill("Peggy agreed today")
        form.get_by_label("Review by").fill("2027-03-02")
        form.get_by_role("button", name="Create invitation link").click()
        expect(carol.get_by_label("Invitation link")).to_have_value(re.compile("/invite/"))
        inv = Invitation.objects.get()
        assert (inv.basis, inv.basis_notes) == ("consent", "Peggy agreed today")

        # Key information, with its history.
        carol.goto(f"/people/{cast.peggy.id}/key-info/")
        carol.get_by_label("Access (key safe, parking, pets)").fill("Key safe code 9902")
        carol.get_by_role("button", name="Save key information").click()
        expect(carol.locator(".keyinfo-history li")).to_have_count(2)
        shot(carol, "h14b-02-key-info", full_page=True)
        assert KeyInfoVersion.objects.filter(service_user=cast.peggy).count() == 2

        # On call: Dev is the deputy from now; the preview names him.
        carol.get_by_role("link", name="On call").click()
        carol.get_by_label("Care manager").select_option(label="Dev Deputy")
        carol.get_by_label("Role").select_option("deputy")
        carol.get_by_label("From (date)").fill("2026-01-01")
        carol.get_by_label("From (time)").fill("00:00")
        carol.get_by_label("Until (date)").fill("2099-01-01")
        carol.get_by_label("Until (time)").fill("00:00")
        carol.get_by_role("button", name="Add shift").click()
        expect(carol.get_by_role("alert")).to_contain_text("at most 14 days")
        assert not OnCallShift.objects.exists()
        today = dt.datetime.now(LOCAL_TZ).date()
        carol.get_by_label("From (date)").fill(str(today - dt.timedelta(days=1)))
        carol.get_by_label("Until (date)").fill(str(today + dt.timedelta(days=2)))
        carol.get_by_role("button", name="Add shift").click()
        expect(carol.locator("table.rota")).to_contain_text("Dev Deputy")
        assert OnCallShift.objects.get().person == dev
        carol.goto("/escalation/policy/")
        carol.get_by_label("Severity").select_option("high")
        carol.get_by_role("button", name="Preview this policy").click()
        expect(carol.locator("ol.preview li").first).to_contain_text("Carol Evans")
        expect(carol.locator("ol.preview")).to_contain_text("Dev Deputy")
        shot(carol, "h14b-03-policy-preview", full_page=True)
    finally:
        server.stop()
