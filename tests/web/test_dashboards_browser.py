"""Done means (issue 6, item 3): the three dashboards render real Chart.js charts on data
from ``build_scale`` — every chart canvas has a Chart instance and non-blank pixels — and
the provider's "today" tile updates live. Screenshots (of this synthetic scale, not the
README's): var/screenshots/scale-dashboard-*.png.
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from bots.models import PlannedVisit, Visit
from cocare_chat import clock
from rooms.models import Person
from tests.support.live import login_cookies
from tests.web.browser import SCRATCH, assert_accessible, start_server
from web.demo import DEMO_PASSWORD, build_demo, build_scale, demo_service_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {
    "viewport": {"width": 1280, "height": 900},
    "locale": "en-GB",
    "timezone_id": "Europe/London",
}

# For each chart canvas: is there a Chart.js instance, and how many pixels are painted?
PAINTED = """() => Array.from(document.querySelectorAll("canvas[data-chart]")).map(c => {
  const chart = window.Chart && window.Chart.getChart(c);
  const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < px.length; i += 4) { if (px[i] > 0) painted++; }
  return {id: c.id, chart: !!chart, points: chart ? chart.data.datasets.reduce(
    (n, d) => n + d.data.filter(v => v !== null).length, 0) : 0,
    painted, size: c.width * c.height};
})"""


def signed_in(browser, server, username):
    ctx = browser.new_context(**DESKTOP, base_url=server.url)
    cookies = login_cookies(server.url, username, DEMO_PASSWORD)
    ctx.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in cookies.items()])
    return ctx, ctx.new_page()


def assert_charts_drawn(page, expected_ids: set[str]) -> None:
    page.wait_for_function(
        "() => document.querySelectorAll('canvas[data-chart]').length > 0"
        " && Array.from(document.querySelectorAll('canvas[data-chart]'))"
        ".every(c => window.Chart && window.Chart.getChart(c))"
    )
    charts = {c["id"]: c for c in page.evaluate(PAINTED)}
    assert expected_ids <= set(charts), charts.keys()
    for cid in expected_ids:
        c = charts[cid]
        assert c["chart"] and c["points"] > 0, c
        assert c["painted"] > 0.01 * c["size"], c  # bars/lines, not an empty canvas


def test_three_dashboards_draw_real_charts_on_build_scale_data(browser):
    build_demo()
    build_scale(6, 1.0, messages_per_week=2)
    peggy = demo_service_user()
    server = start_server()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    try:
        ctx, page = signed_in(browser, server, "carol")
        page.goto(f"/dashboards/service-user/{peggy.pk}/")
        expect(page.get_by_role("heading", name="Peggy", exact=True)).to_be_visible()
        assert_charts_drawn(page, {"su-visits", "su-punctuality", "su-domains", "su-alerts"})
        assert_accessible(page, "dashboard-service-user")
        page.screenshot(path=str(SCRATCH / "scale-dashboard-service-user.png"), full_page=True)

        page.goto(f"/dashboards/service-user/{peggy.pk}/summary/")
        assert_charts_drawn(page, {"summary-domains"})
        page.emulate_media(media="print")
        expect(page.get_by_role("button", name="Print")).to_be_hidden()
        assert_accessible(page, "summary print view")
        page.screenshot(path=str(SCRATCH / "scale-dashboard-summary-print.png"), full_page=True)
        page.emulate_media(media="screen")

        # Provider dashboard; the "today" tile polls every 30 s: fast-forward the page clock.
        page.clock.install()
        page.goto("/dashboards/provider/")
        assert_charts_drawn(
            page,
            {
                "provider-visits",
                "provider-punctuality",
                "provider-continuity",
                "provider-alerts",
                "provider-domains",
            },
        )
        assert_accessible(page, "dashboard-provider")
        page.screenshot(path=str(SCRATCH / "scale-dashboard-provider.png"), full_page=True)
        tile = page.locator("[data-live-url]")
        before = int(tile.locator("[data-live=delivered]").inner_text())
        now = clock.now()
        anna = Person.objects.get(user__username="anna")
        pv = PlannedVisit.objects.create(
            service_user=peggy,
            worker=anna,
            window_start=now - dt.timedelta(minutes=5),
            window_end=now + dt.timedelta(minutes=25),
            expected_minutes=30,
            missed_check_at=now + dt.timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
        Visit.objects.create(
            service_user=peggy,
            worker=anna,
            planned_visit=pv,
            checked_in_at=now,
            checkin_location="in_range",
        )
        page.clock.fast_forward(31_000)
        expect(tile.locator("[data-live=delivered]")).to_have_text(str(before + 1))
        ctx.close()

        ctx, page = signed_in(browser, server, "colin")
        page.goto("/dashboards/council/?period=1y")
        assert_charts_drawn(page, {"council-hours", "council-domains", "council-escalations"})
        expect(page.get_by_role("row", name="Synthetic Care 1")).to_be_visible()
        assert "Peggy" not in page.content() and "Worker" not in page.content()
        assert_accessible(page, "dashboard-council")
        page.screenshot(path=str(SCRATCH / "scale-dashboard-council.png"), full_page=True)
        ctx.close()
    finally:
        server.stop()
