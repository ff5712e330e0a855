"""Language chosen per person: a Welsh-speaking daughter picks Cymraeg on her settings page
and then reads the room page, the bot's question and its thanks in Welsh, while the care
worker in the same room reads English. ``PUT /api/me/language`` sets the same field and
refuses anything but a listed language with nothing written."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from django.test import Client
from playwright.sync_api import expect

from careplan.common import LOCAL_TZ
from cocare_chat import clock
from rooms.models import Person
from tests.bots.helpers import HOME, run, say
from tests.support.cast import build_cast
from tests.support.services import ROOT
from tests.web.browser import assert_accessible, phone, start_server

QUESTION_CY = "Sut ydych chi'n teimlo mae gofal Peggy wedi bod yr wythnos hon?"
QUESTION_EN = "How do you feel Peggy's care has been this week?"
THANKS_CY = "Diolch — mae eich barn yn ein helpu i gael y gofal yn iawn."
THANKS_EN = "Thank you — your view helps us get the care right."


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_welsh_speaking_daughter_reads_the_room_and_the_bots_question_in_welsh(browser):
    cast = build_cast()
    # A visit that ended minutes ago, so the family's question is still open to answer.
    started = clock.now() - dt.timedelta(minutes=40)
    clock.freeze(started)
    say(cast.anna, cast.team, "Check in", location=HOME)
    run()
    clock.advance(dt.timedelta(minutes=36))
    say(cast.anna, cast.team, "check out", location=HOME)
    run()  # the family-voice question goes to the family room
    clock.unfreeze()
    server = start_server()
    try:
        ctx, page = phone(browser, server, "debbie")
        page.goto("/")
        page.get_by_role("link", name="Settings").click()
        page.get_by_label("Language").select_option(label="Cymraeg")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("html")).to_have_attribute("lang", "cy")
        expect(page.get_by_role("heading", name="Gosodiadau")).to_be_visible()
        assert_accessible(page, "settings in Welsh")

        page.get_by_role("link", name="Hafan").click()
        page.get_by_role("link", name="Teulu").first.click()
        expect(page.get_by_placeholder("Ysgrifennwch neges")).to_be_visible()
        expect(page.get_by_role("button", name="Codi pryder")).to_be_visible()
        expect(page.get_by_role("heading", name=QUESTION_CY)).to_be_visible()
        arrived = started.astimezone(LOCAL_TZ).strftime("%H:%M")
        expect(page.get_by_text(f"Cyrhaeddodd Anna {arrived}")).to_be_visible()
        assert QUESTION_EN not in page.content()
        assert_accessible(page, "family room in Welsh")
        page.get_by_role("button", name="Da iawn").click()
        # The bot's thanks, posted in English by the runner, reads in Welsh here.
        expect(
            page.get_by_text("Diolch — mae eich barn yn ein helpu i gael y gofal yn iawn.")
        ).to_be_visible()
        ctx.close()

        # The care worker in the same room still reads English.
        ctx, page = phone(browser, server, "anna")
        page.goto(f"/people/{cast.peggy.id}/family/")
        expect(page.get_by_role("heading", name=QUESTION_EN)).to_be_visible()
        expect(page.get_by_placeholder("Write a message")).to_be_visible()
        expect(
            page.get_by_text("Thank you — your view helps us get the care right.")
        ).to_be_visible()
        ctx.close()
    finally:
        server.stop()


@pytest.mark.django_db
def test_the_language_api_sets_a_listed_language_and_refuses_anything_else(cast):
    c = Client()
    c.force_login(cast.debbie.user)
    assert c.get("/api/me/language").json() == {"language": "en-gb"}
    for bad in (
        {"language": "fr"},
        {"language": "CY"},
        {"language": 1},
        {"language": "cy", "x": 1},
        {},
    ):
        r = c.put("/api/me/language", json.dumps(bad), content_type="application/json")
        assert r.status_code == 422, (bad, r.status_code)
        assert Person.objects.get(pk=cast.debbie.pk).language == "en-gb"
    r = c.put("/api/me/language", json.dumps({"language": "cy"}), content_type="application/json")
    assert r.status_code == 200 and r.json() == {"language": "cy"}
    assert c.get("/").headers["Content-Language"] == "cy"
    assert "Ymweliadau" in c.get("/").content.decode() or "Helo" in c.get("/").content.decode()
    # Another person is untouched; the page form refuses an unlisted language.
    assert Person.objects.get(pk=cast.anna.pk).language == "en-gb"
    r = c.post("/me/settings/", {"language": "de"})
    assert r.status_code == 400 and Person.objects.get(pk=cast.debbie.pk).language == "cy"
    assert "/api/me/language" in json.dumps(c.get("/api/openapi.json").json()["paths"])


def test_the_compiled_catalogues_match_their_sources():
    """A .po edited without recompiling would silently show the old words."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "messages.py"), "check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout
