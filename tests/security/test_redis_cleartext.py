"""Nothing from the care record crosses Redis in clear text (DESIGN.md §3.9).

Two Daphne processes share Redis; a MONITOR client records every command Redis sees
while care workers, a nurse and a daughter chat, type and read, and someone guesses
passwords from behind the proxy. No message body, name of a concern or key-information
text may appear in what Redis carried, nor the username or address of a failed sign-in
(the rate-limit keys are keyed hashes).
"""

from __future__ import annotations

import asyncio
import random
import threading
import uuid

import httpx
import pytest
import redis
from django.db import connection

from tests.support.cast import PASSWORD, build_cast
from tests.support.live import ServerProcess, WsClient, login_cookies
from tests.support.services import REDIS_URL, missing, port_open, subprocess_env

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class Monitor:
    """Collects the raw commands Redis executes (MONITOR) on a thread."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.commands: list[str] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with self.client.monitor() as m:
            self._ready.set()
            for cmd in m.listen():
                self.commands.append(cmd["command"])
                if self._stop.is_set():
                    break

    def start(self):
        self.thread.start()
        assert self._ready.wait(10)

    def stop(self):
        self._stop.set()
        self.client.ping()  # one more command so listen() wakes up and sees the stop
        self.thread.join(10)


def test_message_bodies_never_cross_redis_in_clear_text():
    if connection.vendor != "postgresql":
        missing("PostgreSQL")
    if not port_open("127.0.0.1", 6379):
        missing(f"Redis at {REDIS_URL}")
    cast = build_cast()
    marker = uuid.uuid4().hex[:12]
    secrets = [
        f"Peggy fell in the bathroom {marker}",
        f"Bruising on left arm {marker}",
        f"Mum was confused this morning {marker}",
    ]
    env = subprocess_env(redis=True)
    # --proxy-headers: as in production, the client address comes from X-Forwarded-For.
    a, b = (
        ServerProcess(env, args=["--proxy-headers"]).start(),
        ServerProcess(env, args=["--proxy-headers"]).start(),
    )
    guesser = f"mallory-{marker}"
    address = f"203.0.113.{random.randint(1, 254)}"

    def guess_passwords():
        with httpx.Client(base_url=a.url, timeout=20) as c:
            c.get("/login/")
            for i in range(3):
                r = c.post(
                    "/login/",
                    data={
                        "username": guesser,
                        "password": f"guess{i}",
                        "csrfmiddlewaretoken": c.cookies["csrftoken"],
                    },
                    headers={"X-Forwarded-For": address},
                )
                assert r.status_code == 200  # the form again: failed, counted

    monitor = Monitor(REDIS_URL)
    monitor.start()

    async def workload():
        anna = await WsClient(a.ws_url, login_cookies(a.url, "anna", PASSWORD)).connect()
        nadia = await WsClient(b.ws_url, login_cookies(b.url, "nadia", PASSWORD)).connect()
        debbie = await WsClient(b.ws_url, login_cookies(b.url, "debbie", PASSWORD)).connect()
        for c, room in ((anna, cast.team.id), (nadia, cast.team.id), (debbie, cast.family.id)):
            await c.send({"type": "subscribe", "room": room, "after_seq": 0})
            await c.expect("subscribed")
        await anna.send({"type": "typing", "room": cast.team.id})
        await anna.send(
            {"type": "send", "room": cast.team.id, "client_id": "s0", "body": secrets[0]}
        )
        await anna.send(
            {
                "type": "send",
                "room": cast.team.id,
                "client_id": "s1",
                "kind": "text",
                "body": secrets[1],
            }
        )
        await debbie.send(
            {"type": "send", "room": cast.family.id, "client_id": "s2", "body": secrets[2]}
        )
        # Delivery across processes proves the bodies did travel through Redis.
        await nadia.expect("message", body=secrets[0])
        got = await nadia.expect("message", body=secrets[1])
        await nadia.send({"type": "read", "room": cast.team.id, "seq": got["seq"]})
        await anna.expect("read")
        for c in (anna, nadia, debbie):
            await c.close()

    try:
        guess_passwords()
        asyncio.run(workload())
    finally:
        monitor.stop()
        a.stop()
        b.stop()
    carried = "\n".join(monitor.commands)
    assert len(monitor.commands) > 10  # the monitor really saw the fan-out traffic
    assert "rl:login_user:" in carried and "rl:login_ip:" in carried  # and the limiter's
    assert marker not in carried  # in bodies and in the guesser's username
    assert address not in carried
    # Whole phrases, not fragments: a four-digit code or a short word can turn up by
    # chance inside epoch timestamps, hex channel names or ciphertext (CI once failed
    # because the epoch second 1795441149 contains "4411").
    for phrase in (
        "fell in the bathroom",
        "Bruising on left arm",
        "confused this morning",
        "Key safe code 4411",
    ):
        assert phrase not in carried, phrase
