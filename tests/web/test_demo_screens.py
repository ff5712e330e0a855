"""What a new user of ``./dev demo`` sees, driven as a person does on a 390x844 phone:

- the data is seeded as ``seed_demo`` seeds it (the same command), relative to now;
- every page each demo role reaches from the navigation and the home page passes axe-core
  with zero serious or critical violations (the sweep);
- the council's Period filter works with "All providers" selected, tables use words not
  codes, each figure has its definition, dashboards keep the site navigation and sign-out,
  and count axes step by whole numbers;
- the README's "what a new user sees" pictures are written from these pages
  (docs/screenshots/demo-*.png with COCARE_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.support.live import login_cookies
from tests.web.browser import PHONE, SHOTS, assert_accessible, start_server
from web.demo import DEMO_PASSWORD, demo_service_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

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


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_every_page_of_every_demo_role_passes_axe_and_the_readme_screens(browser):
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
                    if who == "anna" and url.endswith("/team/"):
                        _shot(page, "demo-04-team-room")
                    if who == "debbie":
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
        _shot_full(page, "demo-dashboard-service-user")
        page.goto("/dashboards/provider/")
        _wait_for_charts(page)
        _assert_dashboard_basics(page)
        _shot_full(page, "demo-dashboard-provider")
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
        _shot_full(page, "demo-dashboard-council")
        # A filter typed into the address bar wrongly: a page with the navigation, not text.
        r = page.goto("/dashboards/council/?period=2y")
        assert r is not None and r.status == 400
        expect(page.get_by_role("heading", name="That filter was not understood")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        assert_accessible(page, "bad filter page")
        ctx.close()
    finally:
        server.stop()


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


def _shot_full(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
