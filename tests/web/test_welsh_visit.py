"""Issue 15, "Language", on a phone at 390×844 through a real Daphne with its workers: a
care worker who reads Welsh picks Cymraeg on her settings page, checks in, and reads the
visit in Welsh — the bot's check-in notice, the tasks card, the medicines due with their
buttons and reasons, and a dose prompt posted later in the visit. The daughter, whose
language is Welsh, reads the family room and the arrival notice in Welsh. Each page's
visible text is checked for the Welsh words AND for the absence of the English ones."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from bots.models import Visit
from careplan.common import LOCAL_TZ
from careplan.models import DosePrompt
from careplan.prompts import decide, plan_prompts
from cocare_chat import clock
from rooms.models import Person
from tests.careplan.helpers import add_medicine, save_plan
from tests.support.cast import build_cast
from tests.web.browser import HOME, assert_accessible, phone, start_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISIT_TYPES = ("morning", "lunch", "tea", "bed")
# One task under every default visit type, so the card has it whatever the time of day.
PLAN = {
    "tasks": [
        {"key": f"{vt}-care", "label": "Wash and dress", "visit_type": vt, "essential": True}
        for vt in VISIT_TYPES
    ]
}
DUE_NOW = "Senna 7.5 mg"
DUE_LATER = "Bisoprolol 5 mg"

# What the care worker's room must never show in English once she reads Welsh.
ENGLISH_WORKER = [
    "Check in",
    "Check out",
    "checked in",
    "at home",
    "tap each one when done",
    "Not done",
    "Medicines due",
    "Given",
    "Refused",
    "Not given",
    "due now",
    "record it on the visit card",
    "Write a message",
    "Sign out",
    "Unwell / vomiting",
    "Why was",
    "Key information",
    "First visit",
]
ENGLISH_FAMILY = ["arrived", "Write a message", "Family", "Sign out", "Raise", "Concern"]


def visible(page) -> str:
    return page.inner_text("body")


def assert_no_english(text: str, words: list[str]) -> None:
    found = [w for w in words if w in text]
    assert not found, f"English left on a Welsh page: {found}\n---\n{text}"


def test_a_welsh_care_worker_checks_in_and_the_family_reads_the_arrival_in_welsh(browser):
    cast = build_cast()
    now = clock.now()
    local_now = now.astimezone(LOCAL_TZ)
    save_plan(cast.peggy, cast.carol, PLAN, now=now - dt.timedelta(days=1))
    # One dose due at check-in (on the card), one falling due later in the visit (a prompt).
    later = local_now + dt.timedelta(minutes=20)
    for name, at in ((DUE_NOW, local_now), (DUE_LATER, later)):
        add_medicine(
            cast.peggy,
            cast.carol,
            {"name": name, "dose": "1 tablet", "route": "oral", "times": [f"{at:%H:%M}"]},
            now=now - dt.timedelta(days=1),
        )
    # The daughter's language is set beforehand (the settings page is the care worker's step).
    Person.objects.filter(pk=cast.debbie.pk).update(language="cy")
    server = start_server()
    try:
        actx, anna = phone(browser, server, "anna")
        anna.goto("/me/settings/")
        anna.get_by_label("Language").select_option(label="Cymraeg")
        anna.get_by_role("button", name="Save").click()
        expect(anna.locator("html")).to_have_attribute("lang", "cy")

        anna.goto(f"/people/{cast.peggy.id}/team/")
        actx.set_geolocation(HOME)  # a fresh fix at the door (the page wants one ≤ ~10 s old)
        anna.get_by_role("button", name="Cyrraedd").click()
        arrived = anna.locator("li.notice", has_text="Cyrhaeddodd Anna")
        expect(arrived).to_contain_text("(gartref).")
        expect(anna.get_by_role("button", name="Gadael")).to_be_visible()

        card = anna.locator("li.visit-card")
        expect(card.locator("h3")).to_contain_text("tasg — tapiwch bob un")
        task = card.locator("li.vc-task", has_text="Wash and dress")
        expect(task.get_by_role("button", name="Wedi’i gwneud", exact=True)).to_be_visible()
        task.get_by_role("button", name="Heb ei gwneud").click()
        # The reasons come from the record API in her language.
        expect(task.get_by_role("button", name="Wedi gwrthod")).to_be_visible()
        expect(card.get_by_role("heading", name="Meddyginiaethau’n ddyledus")).to_be_visible()
        dose = card.locator("li.vc-dose", has_text=DUE_NOW)
        dose.get_by_role("button", name="Wedi’i wrthod").click()
        expect(
            dose.get_by_role("group", name=f"Pam y gwrthodwyd {DUE_NOW.split()[0]}")
        ).to_be_visible()
        dose.get_by_role("button", name="Yn sâl / yn chwydu").click()
        expect(dose.locator(".vc-status")).to_have_text("Wedi’i wrthod — Yn sâl / yn chwydu")

        # Later in the visit the prompt ticker posts the dose prompt (the bot's English
        # sentence); here it is posted as the ticker would, and the page is reloaded.
        visit = Visit.objects.get(service_user=cast.peggy, checked_out_at__isnull=True)
        plan_prompts(visit)
        with transaction.atomic():
            prompt = DosePrompt.objects.select_for_update().get(visit=visit)
            decide(prompt, clock.now())
        anna.reload()
        expect(
            anna.locator("li.notice", has_text="Mae meddyginiaeth yn ddyledus nawr")
        ).to_contain_text("cofnodwch hi ar gerdyn yr ymweliad")
        expect(anna.locator("li.visit-card li.vc-dose", has_text=DUE_LATER)).to_be_visible()
        expect(anna.get_by_placeholder("Ysgrifennwch neges")).to_be_visible()
        text = visible(anna)
        for welsh in ("Cyrhaeddodd Anna", "Meddyginiaethau’n ddyledus", "Wedi’i roi", "Gadael"):
            assert welsh in text, welsh
        assert_no_english(text, ENGLISH_WORKER)
        assert_accessible(anna, "care worker's visit in Welsh")
        actx.close()

        dctx, debbie = phone(browser, server, "debbie")
        debbie.goto(f"/people/{cast.peggy.id}/family/")
        arrival = re.compile(r"Cyrhaeddodd Anna \d\d:\d\d")
        expect(debbie.get_by_text(arrival)).to_be_visible()
        expect(debbie.get_by_placeholder("Ysgrifennwch neges")).to_be_visible()
        text = visible(debbie)
        assert "Teulu" in text and arrival.search(text)
        assert_no_english(text, ENGLISH_FAMILY)
        assert DUE_NOW not in text and DUE_LATER not in text  # medicines stay in the team room
        assert_accessible(debbie, "family room in Welsh")
        dctx.close()
    finally:
        server.stop()
