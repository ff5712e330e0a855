"""The README's demo command: sets up, prints the URL and logins, and people can chat."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import httpx
import pytest

from tests.support.live import LineReader, WsClient, login_cookies
from tests.support.services import ROOT, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCARE_")}
    env.update({"PORT": str(port), "COCARE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.sqlite3"})
    proc = subprocess.Popen([str(ROOT / "dev"), "demo"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
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
        anna = await WsClient(url.replace("http", "ws") + "/ws/",
                              login_cookies(url, "anna", "cocare-demo-2026")).connect()
        debbie = await WsClient(url.replace("http", "ws") + "/ws/",
                                login_cookies(url, "debbie", "cocare-demo-2026")).connect()
        hello = await debbie.expect("hello")
        family = [r for r in hello["rooms"] if r["kind"] == "family"]
        assert len(family) == 1 and family[0]["name"] == "Peggy"
        room = family[0]["room"]
        await debbie.send({"type": "subscribe", "room": room, "after_seq": 0})
        await debbie.expect("subscribed")
        await anna.send({"type": "send", "room": room, "client_id": "demo-1",
                         "body": "Peggy is in good spirits"})
        got = await debbie.expect("message", body="Peggy is in good spirits")
        assert got["sender"]["name"] == "Anna Kowalski"
        await anna.close()
        await debbie.close()

    asyncio.run(chat())
