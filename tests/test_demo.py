"""The README's demo command: sets up, prints the URL and logins, and people can chat; it
serves with DEBUG off — the app's own error pages, no URL lists or tracebacks, static
files still served."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.support.live import LineReader, ServerProcess, WsClient, login_cookies
from tests.support.services import ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCARE_")}
    env.update({"PORT": str(port), "COCARE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3"})
    proc = subprocess.Popen(
        [str(ROOT / "dev"), "demo"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    reader = LineReader(proc.stdout)
    # Wait for the last login line of the banner (setup may install packages first).
    reader.wait_for(lambda line: "margaret" in line, timeout=300)
    yield f"http://127.0.0.1:{port}", "".join(reader.lines)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


def test_demo_prints_url_and_logins_and_a_worker_chats_with_a_daughter(demo):
    url, banner = demo
    assert f"open {url}/" in banner
    assert "anna" in banner and "debbie" in banner and "cocare-demo-2026" in banner
    page = httpx.get(url + "/login/", timeout=10)
    assert page.status_code == 200 and "Sign in" in page.text

    async def chat():
        anna = await WsClient(
            url.replace("http", "ws") + "/ws/", login_cookies(url, "anna", "cocare-demo-2026")
        ).connect()
        debbie = await WsClient(
            url.replace("http", "ws") + "/ws/", login_cookies(url, "debbie", "cocare-demo-2026")
        ).connect()
        hello = await debbie.expect("hello")
        family = [r for r in hello["rooms"] if r["kind"] == "family"]
        assert len(family) == 1 and family[0]["name"] == "Peggy"
        room = family[0]["room"]
        await debbie.send({"type": "subscribe", "room": room, "after_seq": 0})
        await debbie.expect("subscribed")
        await anna.send(
            {
                "type": "send",
                "room": room,
                "client_id": "demo-1",
                "body": "Peggy is in good spirits",
            }
        )
        got = await debbie.expect("message", body="Peggy is in good spirits")
        assert got["sender"]["name"] == "Anna Kowalski"
        await anna.close()
        await debbie.close()

    asyncio.run(chat())


@pytest.fixture
def demo_server(tmp_path):
    """What ``./dev demo`` starts, started directly: the demo's configuration (no COCARE_
    variable but its own database), migrated and seeded, served with the workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCARE_")}
    env.update(
        {"COCARE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3", "PYTHONUNBUFFERED": "1"}
    )
    for cmd in (["migrate", "-v0"], ["seed_demo", "--quiet"]):
        subprocess.run(
            [sys.executable, "manage.py", *cmd],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
            capture_output=True,
        )
    server = ServerProcess(env, with_workers=True).start(timeout=60)
    yield server
    server.stop()


# What Django's DEBUG pages show and the app's own pages never do.
INTERNALS = (
    "URLconf",
    "urlpatterns",
    "Traceback",
    "DEBUG = True",
    "Request Method",
    "settings.py",
    "django.",
    "Exception Value",
)


def test_the_demo_serves_its_own_error_pages_and_its_static_files_with_debug_off(demo_server):
    with httpx.Client(base_url=demo_server.url, timeout=10, follow_redirects=False) as c:
        missing = c.get("/no-such-page/")
        assert missing.status_code == 404
        assert "Page not found" in missing.text
        assert "/static/web/app.css" in missing.text  # styled like the app
        # A form POSTed without the trailing slash: a redirect, not a 500 with a traceback.
        no_slash = c.post("/login", data={"username": "anna", "password": "x"})
        assert 300 <= no_slash.status_code < 400
        assert no_slash.headers["location"].endswith("/login/")
        # A form without its CSRF token: the app's 403 page.
        forged = c.post("/login/", data={"username": "anna", "password": "x"})
        assert forged.status_code == 403 and "This page had gone stale" in forged.text
        css = c.get("/static/web/app.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert ".narrow" in css.text
        gone = c.get("/static/web/no-such-file.js")
    assert gone.status_code == 404 and "Page not found" in gone.text
    for page in (missing, no_slash, forged, gone):
        for leak in INTERNALS:
            assert leak not in page.text, (page.url, leak)


def test_a_server_error_shows_the_apps_page_without_internals():
    from django.test import RequestFactory
    from django.views.defaults import server_error

    page = server_error(RequestFactory().get("/")).content.decode()
    assert "Something went wrong on our side" in page and "/static/web/app.css" in page
    for leak in INTERNALS:
        assert leak not in page
