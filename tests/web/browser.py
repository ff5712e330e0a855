"""Playwright on Debian's Chromium against a real Daphne subprocess (with workers).

Never ``playwright install``: the browser is /usr/bin/chromium. One browser per test
module (a module-scoped fixture); each persona gets its own phone-sized context, signed
in with the real login form's cookies. Screenshots go to var/screenshots/
(docs/screenshots/ with COCARE_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connection

from tests.support.cast import PASSWORD
from tests.support.live import ServerProcess, login_cookies
from tests.support.services import ROOT, missing, port_open, subprocess_env

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Every run saves its screenshots under var/ (ignored by git); the README's pictures in
# docs/screenshots/ are refreshed on purpose with COCARE_UPDATE_SCREENSHOTS=1.
SHOTS = ROOT / ("docs" if os.environ.get("COCARE_UPDATE_SCREENSHOTS") else "var") / "screenshots"
# A check's own pictures (its test cast, not the demo's): always under var/, never in docs/.
SCRATCH = ROOT / "var" / "screenshots"
HOME = {"latitude": 53.4808, "longitude": -2.2426, "accuracy": 12}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "locale": "en-GB",
    "timezone_id": "Europe/London",
}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        missing("chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    # Playwright's sync API keeps an event loop marked as running in this thread; the
    # test's own ORM calls are still plain synchronous calls, so Django may allow them.
    # (Only in this process: start_server() removes the flag from the server's env.)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield b
            b.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def start_server() -> ServerProcess:
    """Workers in-process; through Redis when the services phase provides it."""
    redis = (
        connection.vendor == "postgresql"
        and bool(os.environ.get("COCARE_REDIS_URL"))
        and port_open("127.0.0.1", 6379)
    )
    env = subprocess_env(redis=redis)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return ServerProcess(env, with_workers=True).start()


def phone(browser, server: ServerProcess, username: str | None, **extra):
    """A phone-sized context (geolocation at Peggy's home), signed in as ``username``."""
    ctx = browser.new_context(
        **PHONE, base_url=server.url, geolocation=HOME, permissions=["geolocation"], **extra
    )
    if username:
        cookies = login_cookies(server.url, username, PASSWORD)
        ctx.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in cookies.items()])
    page = ctx.new_page()
    return ctx, page


def shot(
    page,
    name: str,
    *,
    full_page: bool = False,
    axe_exempt: frozenset = frozenset(),
    scratch: bool = False,
) -> None:
    """Screenshot the page as it stands — after axe-core found nothing serious on it.

    ``scratch`` keeps the picture under var/ only: the README's pictures come from the demo's
    data (tests/web/test_demo_screens.py), not from a test's own cast."""
    assert_accessible(page, name, exempt=axe_exempt)
    where = SCRATCH if scratch else SHOTS
    where.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(where / f"{name}.png"), full_page=full_page)


# axe-core from npm, copied to web/vendor/ by scripts/vendor-static.sh and served by our
# own server as a static file (never fetched from a CDN).
AXE_URL = "/static/axe-core/axe.min.js"
AXE_FILE = ROOT / "web" / "vendor" / "axe-core" / "axe.min.js"
_AXE_RUN = """async () => {
  const r = await window.axe.run(document, {resultTypes: ["violations"]});
  return r.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}"""


def assert_accessible(page, where: str = "", *, exempt: frozenset = frozenset()) -> None:
    """Run axe-core on the page as it stands: zero serious or critical violations.

    ``exempt`` names rules a page may break only where the markup is a third party's and
    cannot be changed here (each use says why)."""
    if not AXE_FILE.exists():
        missing("axe-core (npm install; scripts/vendor-static.sh)")
    if not page.evaluate("() => !!window.axe"):
        from playwright.sync_api import Error as PlaywrightError

        try:
            page.add_script_tag(url=AXE_URL)
        except PlaywrightError:
            # The phone is offline (an outbox test): the same vendored file, from disk.
            page.add_script_tag(path=str(AXE_FILE))
        page.wait_for_function("() => !!window.axe")
    found = [v for v in page.evaluate(_AXE_RUN) if v["id"] not in exempt]
    assert not found, f"axe on {where or page.url}: {found}"


_OUTBOX_READ = """(person) => new Promise((resolve, reject) => {
  const req = indexedDB.open("cocare");
  req.onerror = () => reject(req.error);
  req.onsuccess = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains("outbox")) { db.close(); resolve([]); return; }
    const r = db.transaction("outbox").objectStore("outbox")
      .getAll(IDBKeyRange.bound([person, ""], [person, "\\uffff"]));
    r.onsuccess = () => {
      db.close();
      resolve(r.result.map((row) => row.entry).sort((a, b) => a.n - b.n));
    };
    r.onerror = () => { db.close(); reject(r.error); };
  };
})"""


def outbox_entries(page, person_id: int) -> list[dict]:
    """What the phone's outbox (IndexedDB ``cocare``/``outbox``) holds for a person, in
    the order it will be sent — read as the page's own storage, not through the app."""
    return page.evaluate(_OUTBOX_READ, person_id)
