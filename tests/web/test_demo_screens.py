"""What a new user of ``./dev demo`` sees, driven as a person does on a 390x844 phone:

- the data is seeded as ``seed_demo`` seeds it (the same command), relative to now;
- every page each demo role reaches from the navigation and the home page passes axe-core
  with zero serious or critical violations (the sweep);
- the council's Period filter works with "All providers" selected, tables use words not
  codes, each figure has its definition, dashboards keep the site navigation and sign-out,
  and count axes step by whole numbers;
- the README's "what a new user sees" pictures are written from these pages
  (docs/screenshots/demo-*.png with COCARE_UPDATE_SCREENSHOTS=1);
- a visit day on the same data, walked as the people do (care worker, daughter, care
  manager): it writes the README's walkthrough pictures (01-…11-*.png) and the re-assessment
  summary's print view.

Every picture the README links is in ``README_SHOTS`` (tests/web/test_readme_images.py
checks the README against it) and each test asserts it wrote exactly its own list.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from bots.models import Observation, PlannedVisit, Visit
from careplan.common import LOCAL_TZ
from cocare_chat import clock
from escalation.models import Alert
from rooms.models import Message, Person, Room
from tests.support.live import login_cookies
from tests.web.browser import PHONE, SHOTS, assert_accessible, start_server
from web.demo import DEMO_PASSWORD, demo_service_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The pictures each test writes (file names under docs/screenshots/, without ".png").
SWEEP_SHOTS = (
    "demo-01-sign-in",
    "demo-02-home-care-worker",
    "demo-03-home-family",
    "demo-04-team-room",
    "demo-05-family-room",
    "demo-dashboard-service-user",
    "demo-dashboard-provider",
    "demo-dashboard-council",
)
WALK_SHOTS = (
    "01-sign-in",
    "02-home-care-worker",
    "03-checked-in-key-info",
    "04-bot-card",
    "05-cards-answered",
    "06-family-arrival-departure",
    "07-family-raise-concern",
    "08-manager-inbox-live-alert",
    "09-manager-alert-page",
    "10-offline-outbox",
    "11-family-after-reconnect",
    "dashboard-summary-print",
)
README_SHOTS = frozenset(SWEEP_SHOTS + WALK_SHOTS)
# Names written in this process, so each test can check it wrote its whole list.
_written: list[str] = []

ROLES = ["anna", "nadia", "carol", "debbie", "margaret", "colin", "ruth"]
# Pages a sweep must not follow: actions, downloads, sign-out, other hosts.
SKIP = ("/logout", "/static/", "csv", "/admin", "/api/")


def _signed_in(browser, server, username: str | None):
    ctx = browser.new_context(**PHONE, base_url=server.url)
    if username:
        cookies = login_cookies(server.url, username, DEMO_PASSWORD)
        ctx.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in cookies.items()])
    return ctx, ctx.new_page()


def _links(page) -> list[str]:
    hrefs = page.eval_on_selector_all(
        "header a[href], main a[href]", "els => els.map(e => e.getAttribute('href'))"
    )
    out = []
    for h in hrefs:
        p = urlparse(h)
        if p.netloc or not p.path.startswith("/") or any(s in p.path for s in SKIP):
            continue
        out.append(p.path + (f"?{p.query}" if p.query else ""))
    return out


def _shot(page, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)
    _written.append(name)


def test_every_page_of_every_demo_role_passes_axe_and_the_readme_screens(browser):
    _written.clear()
    call_command("seed_demo", "--quiet")
    peggy = demo_service_user()
    server = start_server()
    try:
        ctx, page = _signed_in(browser, server, None)
        page.goto("/login/")
        assert_accessible(page, "sign-in")
        _shot(page, "demo-01-sign-in")
        ctx.close()

        visited: dict[str, list[str]] = {}
        for who in ROLES:
            ctx, page = _signed_in(browser, server, who)
            page.goto("/")
            assert_accessible(page, f"{who} home")
            if who == "anna":
                expect(page.get_by_role("heading", name="Today's visits")).to_be_visible()
                expect(page.get_by_text("No visits planned for you today")).to_have_count(0)
                _shot(page, "demo-02-home-care-worker")
            if who == "debbie":
                _shot(page, "demo-03-home-family")
            todo = _links(page)
            seen = {"/"}
            while todo and len(seen) < 14:
                url = todo.pop(0)
                if url in seen:
                    continue
                seen.add(url)
                r = page.goto(url)
                assert r is not None and r.status == 200, (who, url, r and r.status)
                page.wait_for_load_state("load")
                assert_accessible(page, f"{who} {url}")
                if url.count("/") == 4 and url.startswith("/people/"):  # a room page
                    # Peggy's rooms (Anna also has Arthur's and Edith's): one picture each.
                    # Pictured once connected, with the demo's messages on screen.
                    if who == "anna" and url == f"/people/{peggy.pk}/team/":
                        expect(page.locator("#conn")).to_have_text("")
                        expect(page.locator("#messages li.msg.note")).to_contain_text(
                            "Dressing changed on left shin"
                        )
                        _shot(page, "demo-04-team-room")
                    if who == "debbie" and url == f"/people/{peggy.pk}/family/":
                        expect(page.locator("#conn")).to_have_text("")
                        expect(page.locator("#messages li.msg").last).to_contain_text(
                            "sitting in the garden"
                        )
                        _shot(page, "demo-05-family-room")
                    continue  # a room's own links are its tabs and search: next page
                todo += [u for u in _links(page) if u not in seen]
            visited[who] = sorted(seen)
            ctx.close()
        # Everyone reached more than their home page; the staff reached a dashboard.
        assert all(len(v) > 1 for v in visited.values()), visited
        assert any(u.startswith("/dashboards/") for u in visited["carol"])
        assert any(u.startswith("/dashboards/") for u in visited["colin"])

        # Dashboards with the demo's history, as the manager sees them.
        ctx, page = _signed_in(browser, server, "carol")
        page.goto(f"/dashboards/service-user/{peggy.pk}/")
        _wait_for_charts(page)
        _assert_dashboard_basics(page)
        assert_accessible(page, "service-user dashboard")
        # Tables in words, never codes (in_range, location_exception).
        log = page.get_by_role("region", name="Visit log")
        expect(log.get_by_role("cell", name="In range").first).to_be_visible()
        for table in page.locator("section .dash-table-wrap tbody").all():
            assert "_" not in table.inner_text()
        _shot(page, "demo-dashboard-service-user", full_page=True)
        page.goto("/dashboards/provider/")
        _wait_for_charts(page)
        _assert_dashboard_basics(page)
        _shot(page, "demo-dashboard-provider", full_page=True)
        ctx.close()

        # The council's Period filter, with "All providers" selected, as Colin uses it.
        ctx, page = _signed_in(browser, server, "colin")
        page.goto("/dashboards/council/")
        _wait_for_charts(page)
        expect(page.get_by_label("Provider", exact=True)).to_have_value("")
        with page.expect_navigation() as nav:
            page.get_by_label("Period", exact=True).select_option(label="1 year")
        assert nav.value is not None and nav.value.status == 200
        assert "period=1y" in page.url
        expect(page.get_by_role("heading", name="Northshire County Council")).to_be_visible()
        expect(page.get_by_label("Period", exact=True)).to_have_value("1y")
        _wait_for_charts(page)
        _assert_dashboard_basics(page)
        assert_accessible(page, "council dashboard")
        with page.expect_navigation():
            page.get_by_label("Provider", exact=True).select_option(label="Brightwater Home Care")
        expect(page.get_by_role("row", name="Brightwater Home Care")).to_be_visible()
        with page.expect_navigation() as nav:
            page.get_by_label("Provider", exact=True).select_option(label="All providers")
        assert nav.value is not None and nav.value.status == 200
        expect(page.get_by_label("Period", exact=True)).to_have_value("1y")
        _wait_for_charts(page)
        _shot(page, "demo-dashboard-council", full_page=True)
        # A filter typed into the address bar wrongly: a page with the navigation, not text.
        r = page.goto("/dashboards/council/?period=2y")
        assert r is not None and r.status == 400
        expect(page.get_by_role("heading", name="That filter was not understood")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        assert_accessible(page, "bad filter page")
        ctx.close()
    finally:
        server.stop()
    assert sorted(_written) == sorted(SWEEP_SHOTS)


def _wait_for_charts(page) -> None:
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-chart]').length > 0"
        " && Array.from(document.querySelectorAll('canvas[data-chart]'))"
        ".every(c => window.Chart && window.Chart.getChart(c))"
    )


# Every count axis (visits, people, alerts) of the page: its tick values.
COUNT_TICKS = """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => {
  const spec = JSON.parse(document.getElementById(c.dataset.chart).textContent);
  const ch = window.Chart.getChart(c);
  return {id: c.id, integer: !!spec.y.integer, ticks: ch.scales.y.ticks.map(t => t.value)};
})"""


def _assert_dashboard_basics(page) -> None:
    """Site navigation and sign-out; a definition beside every chart and tile; whole-number
    steps on count axes."""
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    for fig in page.locator("figure.dash-chart").all():
        assert fig.locator(".dash-def").inner_text().strip(), fig.get_attribute("id")
    for tile in page.locator(".tile").all():
        assert tile.locator(".tile-def").inner_text().strip(), tile.inner_text()
    axes = page.evaluate(COUNT_TICKS)
    counted = [a for a in axes if a["integer"]]
    assert counted, axes
    for a in counted:
        assert a["ticks"] and all(float(v).is_integer() for v in a["ticks"]), a


# ---- a visit day on the demo's data, as the people live it --------------------------------

DESKTOP = {
    "viewport": {"width": 1280, "height": 900},
    "locale": "en-GB",
    "timezone_id": "Europe/London",
}


def _walk_shot(page, name: str, *, full_page: bool = False) -> None:
    """The README's picture of this step — after axe found nothing serious on the page."""
    assert_accessible(page, name)
    _shot(page, name, full_page=full_page)


def _phone(browser, server, username: str | None, **extra):
    """A 390x844 phone; signed in (the real login form's cookies) unless ``username`` is None."""
    ctx = browser.new_context(**PHONE, base_url=server.url, **extra)
    if username:
        cookies = login_cookies(server.url, username, DEMO_PASSWORD)
        ctx.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in cookies.items()])
    return ctx, ctx.new_page()


def _send(page, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_a_visit_day_on_the_demo_walked_as_anna_debbie_and_carol_live_it(browser):
    _written.clear()
    call_command("seed_demo", "--quiet")  # what ./dev demo runs
    peggy = demo_service_user()
    anna_p = Person.objects.get(user__username="anna")
    now = clock.now()
    open_now = PlannedVisit.objects.get(
        service_user=peggy, worker=anna_p, window_start__lte=now, window_end__gt=now
    )
    family = Room.objects.get(service_user=peggy, kind=Room.Kind.FAMILY)
    # Peggy's front door, as the demo records it: where Anna's phone says she is.
    at_peggys = {"latitude": peggy.home_lat, "longitude": peggy.home_lon, "accuracy": 12}
    server = start_server()
    contexts = []
    try:
        # Debbie (Peggy's daughter) has the family room open; Carol (care manager) her inbox.
        dctx, debbie = _phone(browser, server, "debbie")
        cctx, carol = _phone(browser, server, "carol")
        contexts += [dctx, cctx]
        debbie.goto("/")
        debbie.get_by_role("link", name=re.compile("^Family")).first.click()
        expect(debbie).to_have_url(re.compile(rf"/people/{peggy.pk}/family/$"))
        expect(debbie.locator("#conn")).to_have_text("")
        carol.goto("/alerts/")
        expect(carol.get_by_role("heading", name="Alerts")).to_be_visible()
        expect(carol.locator("#conn")).to_have_text("")

        # Anna signs in on her phone, with location allowed (she is at Peggy's door).
        actx, anna = _phone(
            browser, server, None, geolocation=at_peggys, permissions=["geolocation"]
        )
        contexts.append(actx)
        anna.goto("/")
        expect(anna).to_have_url(re.compile(r"/login/"))
        expect(anna.get_by_role("button", name="Sign in")).to_be_visible()
        _walk_shot(anna, "01-sign-in")
        anna.get_by_label("Username").fill("anna")
        anna.get_by_label("Password").fill(DEMO_PASSWORD)
        anna.get_by_role("button", name="Sign in").click()

        # Her home: today's visits, Peggy's open now, then Arthur's and Edith's.
        expect(anna.get_by_role("heading", name="Hello, Anna Kowalski")).to_be_visible()
        today = anna.get_by_role("region", name="Today's visits")
        window = (
            f"{open_now.window_start.astimezone(LOCAL_TZ):%H:%M}"
            f"–{open_now.window_end.astimezone(LOCAL_TZ):%H:%M}"
        )
        peggys_visit = today.get_by_role("link", name=re.compile("Peggy"))
        expect(peggys_visit).to_contain_text(window)
        expect(peggys_visit).to_contain_text("upcoming")
        _walk_shot(anna, "02-home-care-worker")

        # She opens Peggy's visit and checks in; the key information is on the page.
        peggys_visit.click()
        expect(anna).to_have_url(re.compile(rf"/people/{peggy.pk}/team/$"))
        expect(anna.locator("#conn")).to_have_text("")
        anna.get_by_role("button", name="Check in").click()
        expect(anna.locator("li.notice", has_text="checked in")).to_be_visible()
        key = anna.locator("li.keyinfo-card")
        expect(key).to_contain_text("Tea with one sugar")
        expect(key).to_contain_text("speak on her right side")
        expect(anna.get_by_role("button", name="Check out")).to_be_visible()
        expect(anna.get_by_role("button", name="Check in")).to_be_hidden()
        expect(anna.locator("li.visit-card")).to_contain_text("Wash and dress")
        # The tasks card came after it: she scrolls back up to read the key information.
        key.evaluate("el => el.scrollIntoView({block: 'start'})")
        expect(key).to_be_in_viewport()
        _walk_shot(anna, "03-checked-in-key-info")
        arrived = debbie.locator("li.notice.visit", has_text="Anna arrived")
        expect(arrived).to_have_count(1)

        # She checks out; the bot asks at most three questions, one tap each.
        anna.get_by_role("button", name="Check out").click()
        for n in range(1, 4):
            card = anna.locator("li.card.question").nth(n - 1)
            expect(card).to_contain_text(f"Question {n} of 3")
            if n == 1:
                expect(card.locator("button.option").first).to_be_visible()
                _walk_shot(anna, "04-bot-card")
            card.locator("button.option").first.click()
            expect(card).to_have_class(re.compile(r"\banswered\b"))
        expect(anna.locator("li.notice", has_text="that's all for today")).to_be_visible()
        expect(anna.locator("li.card.question")).to_have_count(3)
        _walk_shot(anna, "05-cards-answered")

        # Debbie's open page showed the arrival and the departure as they happened.
        left = debbie.locator("li.notice.visit", has_text="Anna left")
        expect(left).to_have_count(1)
        expect(arrived).to_have_count(1)
        _walk_shot(debbie, "06-family-arrival-departure")
        visit = Visit.objects.get(planned_visit=open_now)
        assert visit.checkin_location == "in_range" and visit.checked_out_at is not None
        assert Observation.objects.filter(visit=visit).count() == 3

        # Debbie worries about something she heard and raises a concern from the header.
        _send(debbie, "Mum sounded tired on the phone this morning")
        # Sent (it has its place in the room), not only shown as pending on her phone.
        sent = debbie.locator("#messages li.msg.mine[data-seq]", has_text="sounded tired")
        expect(sent).to_have_count(1)
        debbie.get_by_role("button", name="Raise a concern").click()
        expect(debbie.locator("#concern-about")).to_contain_text("sounded tired")
        debbie.get_by_label("What kind of concern?").select_option(label="Change in wellbeing")
        debbie.get_by_label("Why?").fill("Not like her; she usually chats for ages.")
        _walk_shot(debbie, "07-family-raise-concern")
        debbie.locator("#concern-send").click()
        expect(debbie.get_by_text("Concern raised")).to_be_visible()

        # Carol's open inbox shows it without a reload; she opens it.
        item = carol.locator("li.alert-item.state-open", has_text="Peggy")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("wellbeing change")
        expect(carol.locator("#live")).to_contain_text("New alert: Peggy")
        _walk_shot(carol, "08-manager-inbox-live-alert")
        item.locator("a.alert-link").click()
        expect(carol.get_by_role("heading", name=re.compile("^Peggy"))).to_be_visible()
        expect(carol.locator("#alert-state")).to_have_text("Open")
        expect(carol.locator("ol.context li.flagged")).to_contain_text("sounded tired")
        expect(carol.get_by_role("button", name="Acknowledge")).to_be_visible()
        _walk_shot(carol, "09-manager-alert-page", full_page=True)
        alert = Alert.objects.get(service_user=peggy, state="open")
        assert alert.flags.get().raised_by.user.username == "debbie"

        # Debbie loses signal, writes anyway: kept on her phone, waiting.
        anna.goto(f"/people/{peggy.pk}/family/")  # Anna reads the family room too
        expect(anna.locator("#conn")).to_have_text("")
        debbie.context.set_offline(True)
        expect(debbie.locator("#conn")).to_contain_text("offline")
        text = "Thank you Anna, I'll ring Mum tonight"
        _send(debbie, text)
        expect(debbie.locator("#outbox li", has_text=text)).to_have_count(1)
        expect(debbie.locator("#conn")).to_contain_text("1 waiting to send")
        _walk_shot(debbie, "10-offline-outbox")
        assert not Message.objects.filter(room=family, body=text).exists()

        # Back online: sent once, seen once on both phones.
        debbie.context.set_offline(False)
        expect(debbie.locator("#outbox li")).to_have_count(0)
        expect(debbie.locator("#conn")).to_have_text("")
        expect(debbie.locator("#messages li.msg.mine[data-seq]", has_text=text)).to_have_count(1)
        expect(debbie.locator("li.msg.pending")).to_have_count(0)
        expect(anna.locator("#messages li.msg[data-seq]", has_text=text)).to_have_count(1)
        _walk_shot(debbie, "11-family-after-reconnect")
        assert Message.objects.filter(room=family, body=text).count() == 1

        # The re-assessment summary for Peggy, printed by Carol at her desk.
        pctx = browser.new_context(**DESKTOP, base_url=server.url)
        contexts.append(pctx)
        cookies = login_cookies(server.url, "carol", DEMO_PASSWORD)
        pctx.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in cookies.items()])
        desk = pctx.new_page()
        desk.goto(f"/dashboards/service-user/{peggy.pk}/")
        desk.get_by_role("link", name="Re-assessment summary (printable)").click()
        expect(desk).to_have_url(re.compile(rf"/dashboards/service-user/{peggy.pk}/summary/"))
        _wait_for_charts(desk)
        desk.emulate_media(media="print")
        expect(desk.get_by_role("button", name="Print")).to_be_hidden()
        expect(
            desk.get_by_role("heading", name="Re-assessment summary: Margaret Hughes (Peggy)")
        ).to_be_visible()
        _walk_shot(desk, "dashboard-summary-print", full_page=True)
    finally:
        for ctx in contexts:
            ctx.close()
        server.stop()
    assert sorted(_written) == sorted(WALK_SHOTS)
